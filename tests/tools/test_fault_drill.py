"""Fault drill: ``tools/dist_train.sh`` with two CPU (gloo) workers, one of
them killed mid-run; the job fails, the last checkpoint and the templates
file stay intact, and ``--resume`` finishes the run from them."""
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
import torch
from mmengine.config import Config
from wave_helpers import (distill_cfg, save_teacher, teacher_cfg,
                          tiny_runner_cfg)

from wave_mm.fileio import allow_mmengine_checkpoints
from wave_mm.templates import load_templates

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
INTERVAL = 4
# Several processes, tens of seconds: run with -m slow (tools/run_tests.sh
# does).
pytestmark = pytest.mark.slow


def _config(tmp_path, max_iters: int) -> str:
    teacher = str(tmp_path / 'teacher.pth')
    save_teacher(teacher, teacher_cfg())
    cfg = tiny_runner_cfg(
        distill_cfg(teacher),
        str(tmp_path / 'work'),
        max_iters=max_iters,
        batch_size=2,
        env_cfg=dict(dist_cfg=dict(backend='gloo')))
    cfg['default_hooks']['checkpoint'].update(interval=INTERVAL)
    cfg['custom_hooks'] = [dict(type='TemplateExportHook')]
    path = str(tmp_path / 'drill_cfg.py')
    Config(cfg).dump(path)
    return path


def _launch(config: str, work_dir: str, *args: str) -> subprocess.Popen:
    env = dict(
        os.environ,
        PYTHON=sys.executable,
        PORT=str(29700 + os.getpid() % 1000),
        OMP_NUM_THREADS='1')
    return subprocess.Popen([
        'bash',
        osp.join(ROOT, 'tools', 'dist_train.sh'), config, '2', '--work-dir',
        work_dir, '--no-persistent-workers', *args
    ],
                            env=env,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT,
                            text=True)


def _worker_pid(work_dir: str, local_rank: int) -> int:
    """PID of the training worker of ``local_rank`` (from /proc)."""
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                cmd = f.read().split(b'\0')
            with open(f'/proc/{pid}/environ', 'rb') as f:
                env = f.read().split(b'\0')
        except OSError:
            continue
        if (any(c.endswith(b'train.py') for c in cmd)
                and work_dir.encode() in cmd
                and f'LOCAL_RANK={local_rank}'.encode() in env):
            return int(pid)
    raise LookupError(f'no worker of rank {local_rank} for {work_dir}')


def _last_checkpoint(work_dir: str) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def test_killed_worker_fails_the_job_and_resume_finishes(tmp_path):
    # Far more iterations than the drill lasts: the kill lands mid-run.
    config = _config(tmp_path, max_iters=100000)
    work = str(tmp_path / 'work')
    job = _launch(config, work, '--cfg-options',
                  'default_hooks.logger.interval=1')
    deadline = time.time() + 240
    while not osp.isfile(osp.join(work, 'last_checkpoint')):
        assert job.poll() is None, job.stdout.read()[-3000:]
        assert time.time() < deadline, 'no checkpoint within 240 s'
        time.sleep(0.2)
    os.kill(_worker_pid(work, 1), signal.SIGKILL)
    out, _ = job.communicate(timeout=240)
    assert job.returncode != 0, out[-3000:]

    # The last checkpoint and the templates file load and hold the same
    # templates (both are written at every checkpoint).
    allow_mmengine_checkpoints()
    ckpt_path = _last_checkpoint(work)
    ckpt = torch.load(ckpt_path, map_location='cpu', weights_only=True)
    killed_at = ckpt['meta']['iter']
    assert killed_at >= INTERVAL and killed_at % INTERVAL == 0
    templates = load_templates(osp.join(work, 'templates.safetensors'))
    assert templates.templates.keys()
    saved_q = ckpt['state_dict']['backbone.bank.templates.q']

    # Resume on the same work dir and finish a few iterations later.
    stop = killed_at + 2 * INTERVAL
    job = _launch(config, work, '--resume', '--cfg-options',
                  f'train_cfg.max_iters={stop}')
    out, _ = job.communicate(timeout=300)
    assert job.returncode == 0, out[-3000:]
    assert f'Advance dataloader {killed_at} steps' in out, out[-3000:]
    final = torch.load(
        _last_checkpoint(work), map_location='cpu', weights_only=True)
    assert final['meta']['iter'] == stop
    assert not torch.equal(final['state_dict']['backbone.bank.templates.q'],
                           saved_q)
    resumed = load_templates(osp.join(work, 'templates.safetensors'))
    assert torch.equal(resumed.templates['q'],
                       final['state_dict']['backbone.bank.templates.q'])
