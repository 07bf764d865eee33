import errno
import os
import struct
import types
import uuid

import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.runner import Runner
from mmpretrain.registry import MODELS
from wave_helpers import (TINY_AUX, distill_cfg, save_teacher, teacher_cfg,
                          tiny_classifier_cfg, tiny_runner_cfg, tiny_vit_cfg)

from wave_mm.engine import TemplateExportHook
from wave_mm.models import WaveTemplate
from wave_mm.templates import load_templates


@pytest.fixture
def distill_model(tmp_path):
    """A tiny distillation model config with a saved stock ViT teacher."""
    path = str(tmp_path / 'teacher.pth')
    save_teacher(path, teacher_cfg())
    cfg = distill_cfg(path)
    cfg['backbone']['ancestry'] = 'tiny stock ViT'
    return cfg


def make_runner(cfg):
    # Runner(**cfg) rather than Runner.from_cfg(Config(cfg)): the latter
    # formats the config text with yapf several times a run (seconds each).
    cfg.pop('custom_imports')
    return Runner(**cfg)


def run(model, work_dir, max_iters=4, interval=2, hook=None):
    cfg = tiny_runner_cfg(
        model,
        str(work_dir),
        max_iters=max_iters,
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-2)),
        custom_hooks=[hook or dict(type='TemplateExportHook')],
        experiment_name=f'export_{uuid.uuid4().hex}')
    cfg['default_hooks']['checkpoint']['interval'] = interval
    runner = make_runner(cfg)
    runner.train()
    return runner


def leftovers(work_dir):
    return [n for n in os.listdir(work_dir) if '.tmp' in n]


def test_run_writes_loadable_templates(distill_model, tmp_path):
    work_dir = tmp_path / 'work'
    runner = run(distill_model, work_dir)
    path = str(work_dir / 'templates.safetensors')
    data = load_templates(path)
    assert data.ancestry == 'tiny stock ViT'
    assert not leftovers(work_dir)

    # The file holds the trained auxiliary (equal to the last checkpoint).
    aux = runner.model.backbone
    ckpt = torch.load(str(work_dir / 'iter_4.pth'), weights_only=True)
    for name, value in data.templates.items():
        assert torch.equal(value, aux.bank.templates[name].detach()), name
        assert torch.equal(
            value, ckpt['state_dict'][f'backbone.bank.templates.'
                                      f'{name}']), name
    for name, value in data.scalers.items():
        assert torch.equal(value, aux.bank.scalers[name].detach()), name

    # WaveInit rebuilds the auxiliary as a stock ViT of its arch.
    vit_cfg = tiny_vit_cfg(init_cfg=dict(type='WaveInit', templates=path))
    vit = MODELS.build(vit_cfg)
    vit.init_weights()
    aux.eval(), vit.eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(vit(x)[0], aux(x)[0], rtol=0, atol=1e-5)


def test_written_at_checkpoints(distill_model, tmp_path, monkeypatch):
    """With the end-of-training export disabled, the file still exists and
    matches the last checkpoint: it is written whenever one is saved."""
    monkeypatch.setattr(TemplateExportHook, 'after_train',
                        lambda self, runner: None)
    work_dir = tmp_path / 'work'
    run(distill_model, work_dir, max_iters=3, interval=2)
    data = load_templates(str(work_dir / 'templates.safetensors'))
    ckpt = torch.load(str(work_dir / 'iter_3.pth'), weights_only=True)
    for name, value in data.templates.items():
        assert torch.equal(
            value, ckpt['state_dict'][f'backbone.bank.templates.{name}'])


def test_ancestry_argument_overrides_backbone(distill_model, tmp_path):
    work_dir = tmp_path / 'work'
    run(distill_model,
        work_dir,
        max_iters=1,
        interval=1,
        hook=dict(
            type='TemplateExportHook', ancestry='given', filename='t.st'))
    assert load_templates(str(work_dir / 't.st')).ancestry == 'given'
    assert not (work_dir / 'templates.safetensors').exists()


def test_error_before_training_without_wave_template(tmp_path):
    work_dir = tmp_path / 'work'
    cfg = tiny_runner_cfg(
        tiny_classifier_cfg(tiny_vit_cfg()),
        str(work_dir),
        custom_hooks=[dict(type='TemplateExportHook')],
        experiment_name=f'export_{uuid.uuid4().hex}')
    runner = make_runner(cfg)
    before = {k: v.clone() for k, v in runner.model.state_dict().items()}
    with pytest.raises(
            TypeError,
            match='TemplateExportHook needs a '
            'WaveTemplate backbone, got VisionTransformer'):
        runner.train()
    assert runner.train_loop.iter == 0
    for name, value in runner.model.state_dict().items():
        assert torch.equal(value, before[name]), name
    assert not list(work_dir.glob('*.pth'))
    assert not (work_dir / 'templates.safetensors').exists()


def test_failed_write_keeps_previous_file(tmp_path, monkeypatch):
    """Atomic write: a crash while writing leaves the previous file intact
    and no temporary file behind."""
    torch.manual_seed(0)
    model = MODELS.build(
        tiny_classifier_cfg(dict(type='WaveTemplate', **TINY_AUX)))
    model.init_weights()
    assert isinstance(model.backbone, WaveTemplate)
    runner = types.SimpleNamespace(
        work_dir=str(tmp_path),
        model=model,
        logger=MMLogger.get_current_instance())
    # The ancestry text is fixed so that only the write is under test (the
    # header size is: see test_export_readable_for_any_header_length).
    hook = TemplateExportHook(ancestry='atomic write test')
    hook._export(runner)
    path = str(tmp_path / 'templates.safetensors')
    first = load_templates(path).content_hash

    def disk_full(fd):
        raise OSError(errno.ENOSPC, 'No space left on device')

    with torch.no_grad():
        for param in model.backbone.bank.templates.values():
            param.add_(1.)
    with monkeypatch.context() as patch:
        patch.setattr(os, 'fsync', disk_full)
        with pytest.raises(OSError, match='could not write .*No space left'):
            hook._export(runner)
    assert load_templates(path).content_hash == first
    assert os.listdir(tmp_path) == ['templates.safetensors']

    hook._export(runner)
    assert load_templates(path).content_hash != first
    assert os.listdir(tmp_path) == ['templates.safetensors']


def _header_size(path):
    with open(path, 'rb') as f:
        return struct.unpack('<Q', f.read(8))[0]


def test_export_readable_for_any_header_length(aux, tmp_path):
    """A safetensors file starts with its header size (8 bytes, little
    endian), which depends on the metadata, here the ancestry text, and moves
    in steps of 8. Every size must give a readable file, also those whose
    first byte is 0x80 (a pickle's first byte: sizes 128 + 256k) or whose
    first bytes spell 'PK' (a zip's: sizes 0x4B50 + 65536k)."""
    path = str(tmp_path / 'templates.safetensors')
    aux.export_templates(path, '')
    base = _header_size(path)
    # 33 sizes in steps of 8 cover every value of the first byte; then the
    # sizes around 0x4B50.
    lengths = [*range(0, 264, 8), *range(0x4B50 - base - 8, 0x4B50 - base + 9)]
    unreadable, starts = {}, set()
    for n in lengths:
        ancestry = 'a' * n
        aux.export_templates(path, ancestry)
        with open(path, 'rb') as f:
            first = f.read(8)
        starts.add(first[:1])
        if first[:2] == b'PK':
            starts.add(b'PK')
        try:
            assert load_templates(path).ancestry == ancestry
        except Exception as err:
            message = str(err).replace(path, '<file>')[:60]
            unreadable[first.hex()] = message
    assert {b'\x80', b'PK'} <= starts
    assert not unreadable, '\n'.join(f'header {h}: {m}'
                                     for h, m in unreadable.items())
