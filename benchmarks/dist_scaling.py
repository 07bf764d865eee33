"""Multi-GPU runs of the project's own configs through ``tools/dist_train.sh``.

Each case loads a config, swaps its data for ImageNet-shaped synthetic
images (``SyntheticImageNet``, made by the dataloader workers), bf16 autocast,
a fixed number of iterations, no validation and no checkpoints, writes it to
the work dir and trains it with ``tools/dist_train.sh CONFIG GPUS``:

- ``stage1``: ``configs/wave/distill_deit-b.py`` (DeiT-B-shaped auxiliary,
  DeiT-B teacher with random weights) on each of ``--gpus``; per-GPU and
  total img/s from the mean iteration ``time`` MMEngine logs after
  ``--warmup`` iterations (by default every iteration's own time, so the
  median and the slowest iterations are reported too); ``--repeats`` runs
  each case again, and ratios are taken against the median 1-GPU run;
- ``stage1_kd``: the same config with a stock mmpretrain DeiT-B student
  (plain KD), on 1 GPU and the largest of ``--gpus``: whether the two
  students scale alike;
- ``stage2``: ``configs/wave/wave_deit-small_4xb256-10e_in1k.py``
  (``WaveInit`` + ``ScalerInitHook``, 300 fitting iterations) on the largest
  of ``--gpus``, from a templates file of a random DeiT-B auxiliary: the
  hook's wall time from ``scaler_init.json``;
- ``fsdp``: ``configs/wave/distill_vit-l-fsdp_16xb64_in1k.py`` (FSDP
  strategy, ViT-L auxiliary and sharded ViT-L teacher) on 2 GPUs (on 1 if
  ``--gpus`` offers no more: a build-and-step check): that it steps, its
  img/s and that the gathered templates file loads.

Example (4 GPUs; the second command runs stage 1 three times on 1 and on 4
GPUs)::

    PYTHONPATH=$PWD python benchmarks/dist_scaling.py --gpus 1 2 4 \
        --work-dir /tmp/scaling --out scaling.json
    PYTHONPATH=$PWD python benchmarks/dist_scaling.py --gpus 1 4 \
        --cases stage1 --repeats 3 --out scaling_repeats.json
"""
import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time
from pathlib import Path
from statistics import median
from typing import Dict, List, Optional

import torch
from mmengine.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import environment, markdown, write_json  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
STAGE1 = 'configs/wave/distill_deit-b.py'
STAGE2 = 'configs/wave/wave_deit-small_4xb256-10e_in1k.py'
FSDP = 'configs/wave/distill_vit-l-fsdp_16xb64_in1k.py'


def synthetic(cfg: Config,
              batch: int,
              iters: int,
              workers: int,
              log_interval: int = 1) -> Config:
    """``cfg`` on synthetic data for ``iters`` iterations, bf16 on GPUs,
    no evaluation, MMEngine's log every ``log_interval`` iterations."""
    cfg.train_dataloader = dict(
        batch_size=batch,
        num_workers=workers,
        persistent_workers=True,
        pin_memory=True,
        sampler=dict(type='DefaultSampler', shuffle=True),
        collate_fn=dict(type='default_collate'),
        dataset=dict(
            type='SyntheticImageNet',
            num_samples=batch * 8 * (iters + 1),
            num_classes=1000,
            pipeline=[dict(type='PackInputs')]))
    for split in ('val', 'test'):
        for key in ('dataloader', 'evaluator', 'cfg'):
            cfg[f'{split}_{key}'] = None
    if torch.cuda.is_available():  # MMEngine's AMP wrapper needs a GPU
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.dtype = 'bfloat16'
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
    cfg.train_cfg = dict(by_epoch=False, max_iters=iters)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=log_interval)
    # Each logged time is then the mean of its own interval (MMEngine's
    # default smooths over the last 10 iterations, whatever the interval).
    cfg.log_processor = dict(
        cfg.get('log_processor', {}), window_size=log_interval)
    cfg.default_hooks.checkpoint = None
    return cfg


def train(cfg: Config, gpus: int, work_dir: str, timeout: int) -> float:
    """``tools/dist_train.sh`` on ``cfg``; returns the wall time in s."""
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, 'config.py')
    cfg.dump(path)
    cmd = [
        'bash',
        osp.join(ROOT, 'tools', 'dist_train.sh'), path,
        str(gpus), '--work-dir', work_dir
    ]
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(29500 + gpus))
    start = time.time()
    with open(osp.join(work_dir, 'stdout.log'), 'w') as log:
        proc = subprocess.run(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=timeout)
    if proc.returncode:
        with open(osp.join(work_dir, 'stdout.log')) as f:
            tail = f.read()[-2000:]
        raise RuntimeError(f'exit {proc.returncode}:\n{tail}')
    return time.time() - start


def logged(work_dir: str, warmup: int) -> Dict[str, float]:
    """Mean ``time``/``data_time`` (s/iter) and peak ``memory`` (MB) that
    MMEngine logged after ``warmup`` iterations."""
    rows = []
    for path in glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')):
        with open(path) as f:
            rows += [json.loads(line) for line in f]
    rows = [r for r in rows if 'time' in r and r.get('iter', 0) > warmup]
    if not rows:
        raise RuntimeError(f'no iteration times logged in {work_dir}')
    times = sorted(r['time'] for r in rows)
    slowest = sorted(rows, key=lambda r: -r['time'])[:5]
    return dict(
        time=sum(times) / len(times),
        median=times[len(times) // 2],
        slowest=[(r['iter'], round(r['time'], 3)) for r in slowest],
        data_time=sum(r['data_time'] for r in rows) / len(rows),
        memory=max(r.get('memory', 0) for r in rows))


def throughput_row(case: str, gpus: int, batch: int, work_dir: str,
                   warmup: int, wall: float) -> Dict[str, object]:
    stats = logged(work_dir, warmup)
    per_gpu = batch / stats['time']
    return dict(
        case=case,
        gpus=gpus,
        batch_per_gpu=batch,
        iter_s=stats['time'],
        median_iter_s=stats['median'],
        slowest_iters=stats['slowest'],
        data_s=stats['data_time'],
        img_s_per_gpu=per_gpu,
        img_s_total=per_gpu * gpus,
        peak_mem_mb=stats['memory'],
        wall_s=wall)


def random_templates(path: str) -> None:
    """A templates file of a randomly initialised DeiT-B auxiliary."""
    import wave_mm  # noqa: F401
    from wave_mm.models import WaveTemplate
    aux = WaveTemplate(arch='deit-base', img_size=224, patch_size=16)
    aux.init_weights()
    aux.export_templates(path, ancestry='random DeiT-B auxiliary (benchmark)')


def run_case(name: str, fn, rows: List[Dict[str, object]]) -> None:
    try:
        rows.append(fn())
    except Exception as err:  # one failed case must not lose the others
        rows.append(dict(case=name, error=f'{type(err).__name__}: {err}'))
    print(json.dumps(rows[-1]), flush=True)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--gpus', type=int, nargs='+', default=[1, 2, 4])
    parser.add_argument(
        '--cases',
        nargs='+',
        default=['stage1', 'stage1_kd', 'stage2', 'fsdp'])
    parser.add_argument('--batch', type=int, default=128)
    parser.add_argument('--iters', type=int, default=80)
    parser.add_argument('--warmup', type=int, default=30)
    parser.add_argument('--workers', type=int, default=8)
    parser.add_argument(
        '--repeats',
        type=int,
        default=1,
        help='runs of each stage-1 case; ratios are taken against the '
        'median 1-GPU run')
    parser.add_argument(
        '--log-interval',
        type=int,
        default=1,
        help='stage-1 logging interval (1: every iteration\'s time; more: '
        'windows, less host work per iteration)')
    parser.add_argument('--timeout', type=int, default=300)
    parser.add_argument(
        '--fit-iters',
        type=int,
        help='ScalerInitHook iterations '
        '(default: the config\'s)')
    parser.add_argument('--work-dir', default='work_dirs/dist_scaling')
    parser.add_argument('--out', default=None)
    args = parser.parse_args(argv)
    work = osp.abspath(args.work_dir)
    rows: List[Dict[str, object]] = []

    def stage1(gpus: int, plain_kd: bool = False, repeat: int = 0):
        cfg = synthetic(
            Config.fromfile(osp.join(ROOT, STAGE1)), args.batch, args.iters,
            args.workers, args.log_interval)
        cfg.model.teacher.checkpoint = None
        cfg.custom_hooks = []
        name = 'stage1 DeiT-B aux + teacher'
        if plain_kd:
            cfg.model.backbone = dict(
                cfg.model.teacher.model.backbone, drop_path_rate=0.1)
            name = 'stage1 plain-KD DeiT-B student + teacher'
        wdir = osp.join(
            work, f'stage1{"_kd" if plain_kd else ""}_{gpus}gpu'
            f'{f"_r{repeat}" if repeat else ""}')
        wall = train(cfg, gpus, wdir, args.timeout)
        return dict(
            throughput_row(name, gpus, args.batch, wdir, args.warmup, wall),
            repeat=repeat)

    def stage2(gpus: int):
        templates = osp.join(work, 'random_deit-b.safetensors')
        random_templates(templates)
        cfg = synthetic(
            Config.fromfile(osp.join(ROOT, STAGE2)), args.batch, 20,
            args.workers)
        cfg.model.init_cfg[0].templates = templates
        if args.fit_iters is not None:
            cfg.custom_hooks[0].iters = args.fit_iters
        wdir = osp.join(work, f'stage2_{gpus}gpu')
        wall = train(cfg, gpus, wdir, args.timeout)
        with open(osp.join(wdir, 'scaler_init.json')) as f:
            fit = json.load(f)
        return dict(
            case='stage2 ScalerInitHook DeiT-S',
            gpus=gpus,
            batch_per_gpu=args.batch,
            fit_iters=fit['iters'],
            fit_s=fit['seconds'],
            scalers=fit['scalers'],
            wall_s=wall)

    def fsdp():
        batch = args.batch // 2
        gpus = min(2, max(args.gpus))  # 1: a build-and-step check only
        cfg = synthetic(
            Config.fromfile(osp.join(ROOT, FSDP)), batch, 40, args.workers)
        cfg.model.teacher.checkpoint = None
        wdir = osp.join(work, f'fsdp_{gpus}gpu')
        wall = train(cfg, gpus, wdir, args.timeout)
        row = throughput_row('fsdp ViT-L aux + sharded ViT-L teacher', gpus,
                             batch, wdir, 20, wall)
        from wave_mm.templates import load_templates
        data = load_templates(osp.join(wdir, 'templates.safetensors'))
        row['templates_file'] = f'loads, {len(data.templates)} types'
        return row

    for rep in range(args.repeats):
        if 'stage1' in args.cases:
            for gpus in args.gpus:
                run_case(f'stage1 {gpus}', lambda: stage1(gpus, repeat=rep),
                         rows)
        if 'stage1_kd' in args.cases:
            for gpus in sorted({1, max(args.gpus)}):
                run_case(f'stage1_kd {gpus}', lambda: stage1(gpus, True, rep),
                         rows)
    for r in rows:  # per GPU against the same case on 1 GPU (median run)
        base = [
            b for b in rows if b.get('gpus') == 1 and b['case'] == r['case']
            and 'img_s_per_gpu' in b
        ]
        if base and 'img_s_per_gpu' in r:
            r['per_gpu_vs_1gpu'] = r['img_s_per_gpu'] / median(
                b['img_s_per_gpu'] for b in base)
            r['median_vs_1gpu'] = median(b['median_iter_s']
                                         for b in base) / r['median_iter_s']
    if 'stage2' in args.cases:
        run_case('stage2', lambda: stage2(max(args.gpus)), rows)
    if 'fsdp' in args.cases:
        run_case('fsdp', fsdp, rows)
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    table = markdown(rows, [
        'case', 'gpus', 'repeat', 'batch_per_gpu', 'iter_s', 'median_iter_s',
        'data_s', 'img_s_per_gpu', 'img_s_total', 'per_gpu_vs_1gpu',
        'median_vs_1gpu', 'peak_mem_mb', 'fit_s', 'wall_s', 'error'
    ])
    print(table)
    write_json(
        args.out,
        dict(
            benchmark='dist_scaling',
            args=vars(args),
            env=dict(environment(device), gpus=torch.cuda.device_count()),
            date=time.strftime('%Y-%m-%d'),
            rows=rows,
            markdown=table))


if __name__ == '__main__':
    main()
