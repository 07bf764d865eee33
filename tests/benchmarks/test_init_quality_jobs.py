"""The init benchmark reuses a stored result only for an unchanged job."""
import json
import os
import os.path as osp
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'benchmarks', 'init_quality'))
from jobs import result_path, run_all, signatures  # noqa: E402


def plan(work: str, aux_lr: float = 1e-2, fit_lr: float = 3e-3) -> dict:
    """An auxiliary, a target that reads its templates, an unrelated job."""

    def job(name, lr, after=()):
        return dict(
            name=name,
            config=osp.join(ROOT, 'configs', 'wave', 'quickstart', 'x.py'),
            options={
                'templates': osp.join(work, 'aux', 'templates.safetensors'),
                'lr': lr
            },
            kind='train',
            after=list(after),
            meta={})

    return {
        'aux': job('aux', aux_lr),
        'target': job('target', fit_lr, after=['aux']),
        'scratch': job('scratch', 1e-3),
    }


def test_signatures_ignore_where_the_work_dir_lies(tmp_path):
    a, b = str(tmp_path / 'a'), str(tmp_path / 'elsewhere' / 'b')
    assert signatures(plan(a), a) == signatures(plan(b), b)


def test_a_changed_job_invalidates_the_jobs_after_it(tmp_path):
    work = str(tmp_path)
    before = signatures(plan(work), work)
    aux_changed = signatures(plan(work, aux_lr=1e-3), work)
    assert aux_changed['aux'] != before['aux']
    assert aux_changed['target'] != before['target']  # via its dependency
    assert aux_changed['scratch'] == before['scratch']
    fit_changed = signatures(plan(work, fit_lr=1e-2), work)
    assert fit_changed['target'] != before['target']
    assert fit_changed['aux'] == before['aux']


def test_run_all_reuses_only_results_of_unchanged_jobs(tmp_path):
    work = str(tmp_path)
    sigs = signatures(plan(work), work)
    stored = {
        'aux': dict(name='aux', accuracy=1.0, signature=sigs['aux']),
        'target': dict(name='target', accuracy=2.0, signature='old'),
        'scratch': dict(name='scratch', accuracy=3.0),  # before signatures
    }
    for name, result in stored.items():
        os.makedirs(osp.join(work, name))
        with open(result_path(work, name), 'w') as f:
            json.dump(result, f)
    lines = []
    # A deadline in the past: nothing is run, only reuse is decided.
    results = run_all(plan(work), work, 1, time.time() - 1, lines.append)
    assert results == {'aux': stored['aux']}
    assert lines[0] == ('1 results reused, 2 jobs to run (2 of them changed '
                        'since their stored result)')
