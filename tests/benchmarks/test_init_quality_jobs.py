"""The init benchmark's jobs: a stored result is reused only for an
unchanged job, and options name what they set, never a list position."""
import json
import os
import os.path as osp
import sys
import time
from dataclasses import replace

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'benchmarks', 'init_quality'))
import jobs as runner  # noqa: E402
import plan as benchmark_plan  # noqa: E402
from ablations import ablation_jobs  # noqa: E402
from grid import Job, by_name, config_path, validation_options  # noqa: E402
from modes import MODES  # noqa: E402


def plan(work: str, aux_lr: float = 1e-2, fit_lr: float = 3e-3) -> dict:
    """An auxiliary, a target that reads its templates, an unrelated job."""

    def job(name, lr, after=()):
        return Job(
            name,
            osp.join(ROOT, 'configs', 'wave', 'quickstart', 'x.py'), {
                'templates': osp.join(work, 'aux', 'templates.safetensors'),
                'lr': lr
            },
            after=tuple(after))

    return {
        'aux': job('aux', aux_lr),
        'target': job('target', fit_lr, after=['aux']),
        'scratch': job('scratch', 1e-3),
    }


def test_signatures_ignore_where_the_work_dir_lies(tmp_path):
    a, b = str(tmp_path / 'a'), str(tmp_path / 'elsewhere' / 'b')
    assert runner.signatures(plan(a), a) == runner.signatures(plan(b), b)


def test_a_changed_job_invalidates_the_jobs_after_it(tmp_path):
    work = str(tmp_path)
    before = runner.signatures(plan(work), work)
    aux_changed = runner.signatures(plan(work, aux_lr=1e-3), work)
    assert aux_changed['aux'] != before['aux']
    assert aux_changed['target'] != before['target']  # via its dependency
    assert aux_changed['scratch'] == before['scratch']
    fit_changed = runner.signatures(plan(work, fit_lr=1e-2), work)
    assert fit_changed['target'] != before['target']
    assert fit_changed['aux'] == before['aux']


def test_labels_are_not_in_the_signature(tmp_path):
    """What the report groups by is recorded, not digested."""
    work = str(tmp_path)
    jobs = plan(work)
    jobs['scratch'] = replace(jobs['scratch'], cost=5.0)
    assert runner.signatures(jobs, work) == runner.signatures(plan(work), work)
    assert jobs['scratch'].labels() == {'cost': 5.0}


def test_run_all_reuses_only_results_of_unchanged_jobs(tmp_path):
    work = str(tmp_path)
    sigs = runner.signatures(plan(work), work)
    stored = {
        'aux': dict(name='aux', accuracy=1.0, signature=sigs['aux']),
        'target': dict(name='target', accuracy=2.0, signature='old'),
        'scratch': dict(name='scratch', accuracy=3.0),  # before signatures
    }
    for name, result in stored.items():
        os.makedirs(osp.join(work, name))
        with open(runner.result_path(work, name), 'w') as f:
            json.dump(result, f)
    lines = []
    # A deadline in the past: nothing is run, only reuse is decided.
    results = runner.run_all(
        plan(work), work, 1,
        time.time() - 1, lines.append)
    assert results == {'aux': stored['aux']}
    assert lines[0] == ('1 results reused, 2 jobs to run (2 of them changed '
                        'since their stored result)')


def _every_job(work: str) -> list:
    roots = {'mnist': osp.join(work, 'mnist'), 'digits': osp.join(work, 'd')}
    jobs = []
    for mode in MODES.values():
        jobs += _grid(mode, work)
        jobs += benchmark_plan.transfer_jobs(mode, work, roots)
        jobs += ablation_jobs(mode, work)
        jobs += benchmark_plan.auxiliary_jobs(mode, work)
    return jobs


def _grid(mode, work: str) -> list:
    return (benchmark_plan.untrained_jobs(mode, work) +
            benchmark_plan.shared_jobs(mode, work) +
            benchmark_plan.selection_jobs(mode, work))


def test_options_never_index_a_list_by_position(tmp_path):
    for job in _every_job(str(tmp_path)):
        assert osp.isfile(job.config), job.config
        for key in job.options:
            assert not any(p.isdigit() for p in key.split('.')), (job, key)


def test_every_mode_plans_unique_names(tmp_path):
    for mode in MODES.values():
        jobs = _grid(mode, str(tmp_path)) + ablation_jobs(mode, str(tmp_path))
        jobs += benchmark_plan.needed_auxiliaries(mode, str(tmp_path), jobs)
        assert len(by_name(jobs)) == len(jobs)


def _selected(mode, scores: dict) -> dict:
    """Results of the selection runs: ``scores[(method, size)]`` lists
    the validation accuracy per lr of ``mode.lrs``."""
    return {
        f'select_{m}_{s}_lr{lr:g}': dict(accuracy=acc)
        for (m, s), accs in scores.items()
        for lr, acc in zip(mode.lrs, accs)
    }


def test_each_cell_gets_the_lr_of_its_best_validation_accuracy():
    mode = MODES['gpu']
    results = _selected(
        mode,
        {
            ('wave', '4x128'): [80.0, 82.5, 81.0],
            ('scratch', '4x128'): [70.0, 70.0, 69.0],  # tie: the earlier lr
            ('kd', '4x128'): [60.0, 61.0],  # one run missing: not chosen yet
        })
    assert benchmark_plan.chosen_lrs(mode, results) == {
        ('wave', '4x128'): 5e-4,
        ('scratch', '4x128'): 2e-3
    }


def test_chosen_runs_at_the_shared_lr_are_the_shared_runs(tmp_path):
    mode, work = MODES['gpu'], str(tmp_path)
    results = _selected(
        mode, {
            ('wave', '4x128'): [82.0, 81.0, 80.0],
            ('mimetic', '4x128'): [70.0, 71.0, 72.0]
        })
    chosen = benchmark_plan.chosen_jobs(mode, work, results)
    shared = by_name(benchmark_plan.shared_jobs(mode, work))
    per_cell = len(mode.budgets) * len(mode.seeds)
    assert len(chosen) == 2 * per_cell
    wave = [j for j in chosen if j.method == 'wave']
    assert all(shared[j.name] == j for j in wave)
    mimetic = [j for j in chosen if j.method == 'mimetic']
    assert {j.lr for j in mimetic} == {1e-4}
    assert all(j.name not in shared for j in mimetic)
    assert all(j.options['optim_wrapper.optimizer.lr'] == 1e-4
               for j in mimetic)


@pytest.mark.parametrize('name', sorted(MODES))
def test_the_lr_is_chosen_on_training_images_never_on_the_test_set(name):
    mode = MODES[name]
    opts = validation_options(mode)
    train = set(opts['train_dataloader.dataset.indices'])
    val = set(opts['val_dataloader.dataset.indices'])
    assert opts['val_dataloader.dataset.split'] == 'train'
    assert not train & val
    assert train | val == set(range(mode.train_subset))
    assert len(val) == mode.val_images
    for job in benchmark_plan.selection_jobs(mode, '/w'):
        assert job.options['val_dataloader.dataset.split'] == 'train'
        assert job.seed is None and job.variant == 'select'


def test_an_option_names_the_initializer_it_sets(tmp_path):
    mode, work = MODES['quick'], str(tmp_path)
    cfg = Config.fromfile(config_path('ws'))
    options = benchmark_plan.method_options('ws', mode, work, 0, head=False)
    runner.merge_options(cfg, options)
    ws = [i for i in cfg.model.init_cfg if i.type == 'WeightSelectionInit']
    assert ws == [
        dict(
            type='WeightSelectionInit',
            checkpoint=benchmark_plan.ancestry_checkpoint(mode, work),
            head=False)
    ]
    assert [i.type
            for i in cfg.model.init_cfg][:2] == ['TruncNormal', 'Constant']


def test_option_keys_name_list_elements_by_type():
    cfg = Config.fromfile(config_path('ws'))
    assert runner.option_key(cfg, 'model.init_cfg.Constant.val') == \
        'model.init_cfg.1.val'
    assert runner.option_key(cfg, 'model.head.in_channels') == \
        'model.head.in_channels'


@pytest.mark.parametrize(
    'key', ['model.init_cfg.2.checkpoint', 'model.init_cfg.WaveInit.head'])
def test_a_list_entered_by_position_or_a_missing_type_is_refused(key):
    cfg = Config.fromfile(config_path('ws'))
    with pytest.raises(KeyError, match=key):
        runner.option_key(cfg, key)
