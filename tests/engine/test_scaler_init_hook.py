import json
import os
import os.path as osp

import pytest
import torch
import torch.multiprocessing as mp
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.registry import MODELS
from wave_helpers import (TINY_AUX, tiny_classifier_cfg, tiny_runner_cfg,
                          tiny_vit_cfg)

from wave_mm.models import WaveTarget, WaveTemplate
from wave_mm.templates import TemplatesFileError, load_scalers, load_templates

TARGET = dict(
    embed_dims=96, num_layers=3, num_heads=3, feedforward_channels=384)


def _cfg(templates, work_dir, iters=6, max_iters=2, scalers=None, **hook):
    backbone = tiny_vit_cfg(
        TARGET,
        init_cfg=dict(type='WaveInit', templates=templates, scalers=scalers))
    cfg = tiny_runner_cfg(
        tiny_classifier_cfg(backbone), work_dir, max_iters=max_iters)
    cfg['custom_hooks'] = [
        dict(type='ScalerInitHook', iters=iters, log_interval=2, **hook)
    ]
    return Config(cfg)


def _data_free(templates):
    vit = MODELS.build(tiny_vit_cfg(TARGET))
    return WaveTarget(vit, load_templates(templates)).state_dict_for_vit()


def _fit_only(cfg):
    """Runner start + the hook, without the runner's own training."""
    runner = Runner.from_cfg(cfg)
    runner.call_hook('before_run')
    runner._init_model_weights()
    runner.call_hook('before_train')
    return runner


def test_fit_writes_weights_scalers_and_record(templates_file, tmp_path):
    runner = _fit_only(_cfg(templates_file, str(tmp_path)))
    backbone = runner.model.backbone
    fitted = backbone.state_dict()
    data_free = _data_free(templates_file)
    assert any(not torch.equal(fitted[k], v) for k, v in data_free.items())
    # The weights are the composition of templates and the saved scalers.
    scalers = load_scalers(str(tmp_path / 'scalers.safetensors'))
    vit = MODELS.build(tiny_vit_cfg(TARGET))
    target = WaveTarget(vit, load_templates(templates_file), scalers)
    for name, value in target.state_dict_for_vit().items():
        torch.testing.assert_close(fitted[name], value)
    # A stock ViT loads them strictly.
    VisionTransformer(arch=TARGET, img_size=16, patch_size=4) \
        .load_state_dict(fitted, strict=True)
    record = json.load(open(tmp_path / 'scaler_init.json'))
    assert record['iters'] == 6
    assert record['scalers'] == target.bank.num_scalers()
    head = sum(p.numel() for p in runner.model.head.parameters())
    assert record['fitted_params'] == record['scalers'] + head


def test_scalers_file_round_trip(templates_file, tmp_path):
    runner = _fit_only(_cfg(templates_file, str(tmp_path / 'a')))
    fitted = runner.model.backbone.state_dict()
    cfg = tiny_vit_cfg(
        TARGET,
        init_cfg=dict(
            type='WaveInit',
            templates=templates_file,
            scalers=str(tmp_path / 'a' / 'scalers.safetensors')))
    vit = MODELS.build(cfg)
    vit.init_weights()
    for name, value in vit.state_dict().items():
        torch.testing.assert_close(value, fitted[name])


def test_fit_of_templates_in_order_ts_with_fused_qkv(tmp_path):
    torch.manual_seed(0)
    aux = WaveTemplate(**{**TINY_AUX, 'kron_order': 'TS', 'fused_qkv': True})
    aux.init_weights()
    path = str(tmp_path / 'ts.safetensors')
    aux.export_templates(path)
    runner = _fit_only(_cfg(path, str(tmp_path / 'a')))
    fitted = runner.model.backbone.state_dict()
    assert any(not torch.equal(fitted[k], v)
               for k, v in _data_free(path).items())
    scalers = load_scalers(str(tmp_path / 'a' / 'scalers.safetensors'))
    assert 'qkv' in scalers.scalers and 'q' not in scalers.scalers
    vit = MODELS.build(tiny_vit_cfg(TARGET))
    target = WaveTarget(vit, load_templates(path), scalers)
    for name, value in target.state_dict_for_vit().items():
        torch.testing.assert_close(fitted[name], value)


def test_runner_trains_after_fit_with_amp(templates_file, tmp_path):
    """Init -> fit (bf16 autocast, more iterations than the loader has) ->
    the runner's own iterations; the runner's iteration counter and
    optimizer are untouched by the hook."""
    cfg = _cfg(
        templates_file, str(tmp_path), iters=9, max_iters=3, amp='bfloat16')
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 3
    assert all(
        s['step'] == 3
        for s in runner.optim_wrapper.optimizer.state_dict()['state'].values())
    assert osp.isfile(tmp_path / 'scalers.safetensors')


def test_zero_iterations_is_a_no_op(templates_file, tmp_path):
    runner = _fit_only(_cfg(templates_file, str(tmp_path), iters=0))
    state = runner.model.backbone.state_dict()
    for name, value in _data_free(templates_file).items():
        assert torch.equal(state[name], value), name
    assert not osp.exists(tmp_path / 'scalers.safetensors')


def test_skips_on_resume(templates_file, tmp_path):
    Runner.from_cfg(_cfg(templates_file, str(tmp_path), max_iters=2)).train()
    os.remove(tmp_path / 'scaler_init.json')
    cfg = _cfg(templates_file, str(tmp_path), max_iters=4)
    cfg.resume = True
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 4
    assert not osp.exists(tmp_path / 'scaler_init.json')


def test_error_model_not_from_wave_init(tmp_path):
    cfg = tiny_runner_cfg(tiny_classifier_cfg(tiny_vit_cfg()), str(tmp_path))
    cfg['custom_hooks'] = [dict(type='ScalerInitHook', iters=2)]
    with pytest.raises(ValueError, match='initialised by WaveInit'):
        Runner.from_cfg(Config(cfg)).train()


def test_error_scalers_of_other_arch(templates_file, tmp_path):
    _fit_only(_cfg(templates_file, str(tmp_path / 'a')))
    backbone = tiny_vit_cfg(
        init_cfg=dict(
            type='WaveInit',
            templates=templates_file,
            scalers=str(tmp_path / 'a' / 'scalers.safetensors')))
    cfg = tiny_runner_cfg(tiny_classifier_cfg(backbone), str(tmp_path / 'b'))
    cfg['custom_hooks'] = [dict(type='ScalerInitHook', iters=2)]
    with pytest.raises(TemplatesFileError, match='another arch'):
        Runner.from_cfg(Config(cfg)).train()


def _rank_main(rank, templates, work_dir, port):
    os.environ.update(
        MASTER_ADDR='127.0.0.1',
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE='2')
    # mmengine's init_dist calls torch.cuda.set_device; on CPU the process
    # group is made here and the Runner finds it initialised.
    torch.distributed.init_process_group('gloo', rank=rank, world_size=2)
    cfg = _cfg(templates, work_dir)
    cfg.launcher = 'pytorch'
    cfg.model_wrapper_cfg = dict(
        type='MMDistributedDataParallel', device_ids=None)
    # Different data order per rank, so unsynchronised fits would differ.
    cfg.randomness = dict(seed=rank, diff_rank_seed=True)
    runner = _fit_only(cfg)
    torch.save(runner.model.module.backbone.state_dict(),
               osp.join(work_dir, f'rank{rank}.pt'))
    torch.distributed.destroy_process_group()


@pytest.mark.slow  # two processes
def test_two_ranks_end_with_identical_weights(templates_file, tmp_path):
    port = 29500 + os.getpid() % 1000
    mp.spawn(
        _rank_main,
        args=(templates_file, str(tmp_path), port),
        nprocs=2,
        join=True)
    a = torch.load(tmp_path / 'rank0.pt')
    b = torch.load(tmp_path / 'rank1.pt')
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_scalers_only(templates_file, tmp_path):
    runner = _fit_only(_cfg(templates_file, str(tmp_path), train_extra=()))
    record = json.load(open(tmp_path / 'scaler_init.json'))
    assert record['fitted_params'] == record['scalers']
    head = runner.model.head.layers.head.weight
    assert head.requires_grad  # restored after the fit
    assert head.abs().sum() == 0  # still the head's Constant(0) init
