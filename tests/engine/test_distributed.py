"""Stage 1 under DDP on CPU (gloo): identical templates on every rank, and
the same templates as one process seeing the same global batches."""
import os
import os.path as osp

import pytest
import torch
import torch.multiprocessing as mp
from mmengine.config import Config
from mmengine.runner import Runner
from wave_helpers import (distill_cfg, save_teacher, teacher_cfg,
                          tiny_runner_cfg)

from wave_mm.templates import load_templates

GLOBAL_BATCH = 4
# Several processes, tens of seconds: run with -m slow (tools/run_tests.sh
# does).
pytestmark = pytest.mark.slow


def _distill_cfg(teacher_ckpt: str, work_dir: str, world_size: int) -> dict:
    model = distill_cfg(teacher_ckpt)
    cfg = tiny_runner_cfg(
        model, work_dir, max_iters=3, batch_size=GLOBAL_BATCH // world_size)
    # Unshuffled: rank r takes samples r, r + world_size, ... so the ranks'
    # batches together are the single process's batch.
    cfg['train_dataloader']['sampler'] = dict(
        type='DefaultSampler', shuffle=False)
    cfg['custom_hooks'] = [dict(type='TemplateExportHook')]
    cfg['default_hooks']['checkpoint'] = None
    return cfg


def _rank_main(rank, world_size, teacher_ckpt, work_dir, port):
    os.environ.update(
        MASTER_ADDR='127.0.0.1',
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world_size))
    torch.distributed.init_process_group(
        'gloo', rank=rank, world_size=world_size)
    cfg = _distill_cfg(teacher_ckpt, work_dir, world_size)
    cfg.update(
        launcher='pytorch',
        model_wrapper_cfg=dict(
            type='MMDistributedDataParallel', device_ids=None))
    runner = Runner.from_cfg(Config(cfg))
    runner.train()
    backbone = runner.model.module.backbone
    torch.save({
        k: v
        for k, v in backbone.state_dict().items()
    }, osp.join(work_dir, f'rank{rank}.pt'))
    torch.distributed.destroy_process_group()


def _teacher(tmp_path) -> str:
    path = str(tmp_path / 'teacher.pth')
    save_teacher(path, teacher_cfg())
    return path


def test_two_ranks_match_each_other_and_one_process(tmp_path):
    teacher = _teacher(tmp_path)
    dist_dir, single_dir = tmp_path / 'dist', tmp_path / 'single'
    port = 29600 + os.getpid() % 1000
    mp.spawn(
        _rank_main,
        args=(2, teacher, str(dist_dir), port),
        nprocs=2,
        join=True)
    a = torch.load(dist_dir / 'rank0.pt')
    b = torch.load(dist_dir / 'rank1.pt')
    for name in a:
        assert torch.equal(a[name], b[name]), name

    runner = Runner.from_cfg(Config(_distill_cfg(teacher, str(single_dir), 1)))
    runner.train()
    single = runner.model.backbone.state_dict()
    # The steps do move the templates: one iteration ends elsewhere.
    cfg = _distill_cfg(teacher, str(tmp_path / 'one_iter'), 1)
    cfg['train_cfg']['max_iters'] = 1
    one_iter = Runner.from_cfg(Config(cfg))
    one_iter.train()
    assert not torch.equal(one_iter.model.backbone.bank.templates['q'],
                           single['bank.templates.q'])
    for name in a:
        torch.testing.assert_close(a[name], single[name], rtol=1e-4, atol=1e-6)
    # Rank 0 wrote the templates file; it holds the trained templates.
    exported = load_templates(str(dist_dir / 'templates.safetensors'))
    for name, value in exported.templates.items():
        assert torch.equal(value, a[f'bank.templates.{name}'])
