"""Stage 1 interrupted mid-epoch and resumed ends where an uninterrupted
run ends: same templates, bit for bit."""
import pickle
import types
import uuid

import mmengine.runner.loops as loops
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner
from wave_helpers import (distill_cfg, save_teacher, teacher_cfg,
                          tiny_runner_cfg)

from wave_mm.fileio import allow_mmengine_checkpoints
from wave_mm.templates import load_templates

#: 16 samples, batch 4: 4 iterations an epoch. A checkpoint every 3
#: iterations lands mid-epoch; 7 iterations cross an epoch boundary.
MAX_ITERS, INTERVAL, CRASH_AFTER = 7, 3, 5


class Interrupted(Exception):
    pass


class Crash(Hook):
    """Kill the run after iteration ``after`` (1-based), once the
    checkpoint hook has had its turn."""
    priority = 'LOWEST'

    def __init__(self, after):
        self.after = after

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.after:
            raise Interrupted(f'simulated crash after iteration {self.after}')


class Record(Hook):
    """The iterations a run trains and the samples of each batch."""

    def __init__(self):
        self.batches = {}

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.batches[runner.iter] = [
            s.sample_idx for s in data_batch['data_samples']
        ]


@pytest.fixture(autouse=True)
def global_state(monkeypatch):
    """``randomness=dict(deterministic=True)`` switches torch to
    deterministic algorithms for the whole process: restore it. The
    infinite dataloader iterator sleeps 2 s at each epoch change: skip."""
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    monkeypatch.setattr(loops, 'time',
                        types.SimpleNamespace(sleep=lambda seconds: None))
    yield
    torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn


@pytest.fixture
def distill_model(tmp_path):
    path = str(tmp_path / 'teacher.pth')
    save_teacher(path, teacher_cfg())
    cfg = distill_cfg(path, head=dict(feat_weight=0.5, teacher_channels=32))
    cfg['backbone']['ancestry'] = 'resume test'
    return cfg


def make_runner(model, work_dir, hooks, resume=False, max_iters=MAX_ITERS):
    cfg = tiny_runner_cfg(
        model,
        str(work_dir),
        max_iters=max_iters,
        # Stateful optimizer and schedule: both must be restored exactly.
        optim_wrapper=dict(
            optimizer=dict(type='AdamW', lr=1e-2, weight_decay=0.05)),
        param_scheduler=[
            dict(
                type='LinearLR',
                start_factor=0.1,
                by_epoch=False,
                begin=0,
                end=max_iters)
        ],
        randomness=dict(seed=0, deterministic=True),
        custom_hooks=[dict(type='TemplateExportHook'), *hooks],
        resume=resume,
        experiment_name=f'resume_{uuid.uuid4().hex}')
    # Runner(**cfg): hooks may be instances, and Runner.from_cfg would format
    # the config text with yapf several times a run (seconds each).
    cfg.pop('custom_imports')
    cfg['default_hooks']['checkpoint']['interval'] = INTERVAL
    return Runner(**cfg)


def test_resumed_run_matches_uninterrupted(distill_model, tmp_path,
                                           weights_only_loads):
    # Every checkpoint load goes through torch.load with weights_only=True,
    # whatever torch's default: resuming relies on wave_mm's allow-list.
    loaded = weights_only_loads

    straight = Record()
    make_runner(distill_model, tmp_path / 'a', [straight]).train()

    crashed = Record()
    runner = make_runner(distill_model, tmp_path / 'b',
                         [crashed, Crash(CRASH_AFTER)])
    with pytest.raises(Interrupted):
        runner.train()
    assert sorted(crashed.batches) == list(range(CRASH_AFTER))
    # The last checkpoint is mid-epoch; the crash lost the iterations after.
    with open(tmp_path / 'b' / 'last_checkpoint') as f:
        assert f.read().strip().endswith(f'iter_{INTERVAL}.pth')

    resumed = Record()
    runner = make_runner(distill_model, tmp_path / 'b', [resumed], resume=True)
    runner.train()
    assert str(tmp_path / 'b' / f'iter_{INTERVAL}.pth') in loaded
    assert sorted(resumed.batches) == list(range(INTERVAL, MAX_ITERS))
    assert runner.iter == MAX_ITERS
    # Same data order across the resume and the epoch boundary.
    for i in range(MAX_ITERS):
        batch = (resumed if i >= INTERVAL else crashed).batches[i]
        assert batch == straight.batches[i], i

    a = load_templates(str(tmp_path / 'a' / 'templates.safetensors'))
    b = load_templates(str(tmp_path / 'b' / 'templates.safetensors'))
    assert set(a.templates) == set(b.templates)
    for name in a.templates:
        assert torch.equal(a.templates[name], b.templates[name]), name
        assert torch.equal(a.scalers[name], b.scalers[name]), name
    assert a.content_hash == b.content_hash
    # ... and the same last checkpoint (optimizer state included).
    ckpt_a = torch.load(
        str(tmp_path / 'a' / f'iter_{MAX_ITERS}.pth'), weights_only=True)
    ckpt_b = torch.load(
        str(tmp_path / 'b' / f'iter_{MAX_ITERS}.pth'), weights_only=True)
    for name, value in ckpt_a['state_dict'].items():
        assert torch.equal(value, ckpt_b['state_dict'][name]), name
    state_a = ckpt_a['optimizer']['state']
    state_b = ckpt_b['optimizer']['state']
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        for name, value in state_a[key].items():
            assert torch.equal(value, state_b[key][name]), (key, name)


def test_checkpoints_need_the_allow_list(distill_model, tmp_path):
    """MMEngine checkpoints pickle the message hub (HistoryBuffer, numpy):
    torch.load(weights_only=True) refuses them unless wave_mm allow-lists
    exactly those globals, and still refuses anything else."""
    make_runner(distill_model, tmp_path, [], max_iters=1).train()
    path = str(tmp_path / 'iter_1.pth')

    saved = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
            torch.load(path, weights_only=True)
        allow_mmengine_checkpoints()
        ckpt = torch.load(path, weights_only=True)
    finally:
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(saved)
    assert ckpt['meta']['iter'] == 1
    assert 'message_hub' in ckpt

    class Evil:

        def __reduce__(self):
            return (print, ('pwned', ))

    bad = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {}, 'x': Evil()}, bad)
    with pytest.raises(pickle.UnpicklingError, match='print'):
        torch.load(bad, weights_only=True)
