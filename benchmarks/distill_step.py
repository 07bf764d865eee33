"""Stage-1 training-step throughput: student + frozen teacher, one device.

Variants (``--variants``):

- ``kd-eager`` / ``kd-compile``: plain mmpretrain KD, a stock
  ``VisionTransformer`` student with ``KroneckerDistillHead`` in
  ``DistillImageClassifier`` and a same-arch teacher (random weights);
- ``wave-eager`` / ``wave-compile``: the same with the WAVE auxiliary,
  a ``WaveTemplate`` student (default template arguments).

The step is MMEngine's ``model.train_step(data, optim_wrapper)`` with
``AmpOptimWrapper(dtype='bfloat16')`` and AdamW on synthetic uint8 images and
labels already on the device (``OptimWrapper`` + autocast on CPU, where
``AmpOptimWrapper`` refuses to run). ``*-compile`` compiles the student and
teacher backbones in place (``nn.Module.compile``).
Dynamo counters are recorded after warm-up and after the timed steps: new
graphs or frames during the timed steps mean recompilation. After them,
``--profile-steps`` more steps run under ``torch.profiler`` for the shares
of the composition and the optimizer in the step (``step_profile.py``).

Every variant runs in a fresh process of its own: the script launches
``--pairs`` pairs of them per mode, plain KD then WAVE, eager pairs before
compiled ones, and reports the WAVE/KD img/s ratio of each pair, their
median and spread (``step_pairs.py``). ``--worker VARIANT`` runs one variant
in this process instead. On one GPU (H200 dense bf16 peak: 989 TFLOP/s;
H100: 779 measured)::

    python benchmarks/distill_step.py --batch 128 --warmup 8 --iters 20 \
        --rounds 3 --pairs 3 --fwd-gflop 35.16 --fused-adamw \
        --peak-tflops 989 --out step.json

A CPU smoke test with tiny shapes::

    python benchmarks/distill_step.py --device cpu --arch deit-tiny \
        --img-size 32 --batch 2 --classes 10 --warmup 1 --iters 1 \
        --rounds 1 --pairs 2 --profile-steps 1 --variants kd-eager wave-eager

Both need ``wave_mm`` importable (e.g. ``PYTHONPATH=$PWD``). The script
exits with 1, after writing every result, when a worker failed.
"""
import argparse
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Dict

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import time_ms  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402
from mmengine.optim import AmpOptimWrapper, OptimWrapper  # noqa: E402
from mmpretrain.registry import MODELS  # noqa: E402
from mmpretrain.structures import DataSample  # noqa: E402
from step_pairs import add_arguments, orchestrate, work  # noqa: E402
from step_profile import profile_steps  # noqa: E402

import wave_mm  # noqa: F401,E402  (registers the modules)
from wave_mm.templates import ViTArch  # noqa: E402

VARIANTS = ('kd-eager', 'kd-compile', 'wave-eager', 'wave-compile')
COLUMNS = ('variant', 'img_s', 'mfu', 'step_ms', 'peak_mem_gib',
           'first_step_s', 'graphs', 'graph_breaks', 'recompiled_in_timed',
           'compose_share', 'optim_share', 'host_ms_per_step')
PREPROCESSOR = dict(
    type='ClsDataPreprocessor',
    num_classes=1000,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)


def model_cfg(args: argparse.Namespace, wave: bool) -> dict:
    """``DistillImageClassifier`` config of one variant."""
    vit = dict(
        type='VisionTransformer',
        arch=args.arch,
        img_size=args.img_size,
        patch_size=args.patch_size)
    student = dict(vit, drop_path_rate=args.drop_path)
    if wave:
        student['type'] = 'WaveTemplate'
        if args.template_width:
            student['template_width'] = args.template_width
        if args.num_templates:
            student['num_templates'] = args.num_templates
        if args.kron_order:
            student['kron_order'] = args.kron_order
        if args.qkv:
            student['fused_qkv'] = args.qkv == 'fused'
    width = MODELS.build(dict(vit, arch=args.arch)).embed_dims
    teacher = dict(
        type='ImageClassifier',
        backbone=vit,
        neck=None,
        head=dict(
            type='VisionTransformerClsHead',
            num_classes=args.classes,
            in_channels=width),
        data_preprocessor=dict(PREPROCESSOR, num_classes=args.classes))
    return dict(
        type='DistillImageClassifier',
        backbone=student,
        neck=None,
        head=dict(
            type='KroneckerDistillHead',
            num_classes=args.classes,
            in_channels=width,
            alpha=1.0,
            tau=1.0,
            loss=dict(type='CrossEntropyLoss')),
        data_preprocessor=dict(PREPROCESSOR, num_classes=args.classes),
        teacher=dict(model=teacher, checkpoint=None))


def fwd_gflop(vit: nn.Module, classes: int) -> float:
    """Forward GFLOP per image of a ViT (matmuls, attention, patch embed,
    head; 2 FLOP per multiply-add)."""
    a = ViTArch.from_vit(vit)
    d, f, n = a.embed_dims, a.feedforward_channels, a.num_tokens
    patches = a.patch_resolution[0] * a.patch_resolution[1]
    layer = 2 * n * (4 * d * d + 2 * d * f) + 4 * n * n * d
    embed = 2 * patches * d * a.in_channels * a.patch_size**2
    return (a.num_layers * layer + embed + 2 * d * classes) / 1e9


def synthetic_batch(args: argparse.Namespace, device: torch.device) -> dict:
    """uint8 images and labels on ``device``, as a dataloader would give."""
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(
        0,
        256, (args.batch, 3, args.img_size, args.img_size),
        generator=gen,
        dtype=torch.uint8)
    labels = torch.randint(0, args.classes, (args.batch, ), generator=gen)
    samples = [
        DataSample().set_gt_label(labels[i:i + 1].to(device))
        for i in range(args.batch)
    ]
    return dict(inputs=images.to(device), data_samples=samples)


def dynamo_stats() -> Dict[str, int]:
    """Graphs, frames and graph breaks dynamo has counted so far."""
    from torch._dynamo.utils import counters
    return dict(
        unique_graphs=counters['stats']['unique_graphs'],
        frames=counters['frames']['total'],
        graph_breaks=sum(counters['graph_break'].values()))


def run_variant(args: argparse.Namespace, name: str,
                device: torch.device) -> Dict[str, object]:
    """Build, warm up, time and profile one variant; returns its row."""
    # init_weights logs every parameter at INFO.
    MMLogger.get_instance('mmengine', log_level='WARNING')
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(0)
    wave, compiled = name.startswith('wave'), name.endswith('compile')
    model = MODELS.build(model_cfg(args, wave))
    model.init_weights()
    model.to(device).train()
    opt = torch.optim.AdamW(
        model.parameters(),
        lr=5e-4,
        weight_decay=0.05,
        fused=args.fused_adamw or None)
    gpu = device.type == 'cuda'
    cast = torch.bfloat16 if args.dtype == 'bf16' else None
    if gpu and cast is not None:
        wrapper = AmpOptimWrapper(optimizer=opt, dtype='bfloat16')
        outer = nullcontext
    else:
        wrapper = OptimWrapper(optimizer=opt)
        outer = (lambda: torch.autocast(device.type, dtype=cast)) if cast \
            else nullcontext
    start = dynamo_stats()  # counters are cumulative over variants
    if compiled:
        torch._dynamo.reset()
        model.backbone.compile(mode=args.compile_mode)
        model.teacher.backbone.compile(mode=args.compile_mode)
    data = synthetic_batch(args, device)

    def step() -> None:
        with outer():
            model.train_step(data, wrapper)

    t0 = time.perf_counter()
    step()  # the first step compiles
    if gpu:
        torch.cuda.synchronize(device)
    first_s = time.perf_counter() - t0
    for _ in range(max(args.warmup - 1, 0)):
        step()
    before = dynamo_stats()
    if gpu:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    ms = time_ms(step, device, warmup=0, iters=args.iters, rounds=args.rounds)
    after = dynamo_stats()
    gflop = fwd_gflop(model.backbone, args.classes)
    if args.fwd_gflop:
        gflop = args.fwd_gflop
    img_s = args.batch * 1e3 / ms['median']
    step_gflop = 4 * gflop  # 3x student (fwd + bwd) + 1x teacher forward
    row = dict(
        variant=name + (' (fused AdamW)' if args.fused_adamw else ''),
        templates=(f'{args.template_width or 192}-wide blocks, '
                   f'K={args.num_templates or 12}, {model.backbone.kron_order}'
                   f', qkv {"fused" if model.backbone.fused_qkv else "split"}'
                   if wave else None),
        img_s=img_s,
        img_s_best=args.batch * 1e3 / ms['min'],
        step_ms=ms['median'],
        mfu=img_s * step_gflop / (args.peak_tflops * 1e3),
        peak_mem_gib=(torch.cuda.max_memory_allocated(device) /
                      2**30 if gpu else None),
        first_step_s=first_s,
        gflop_per_img=step_gflop,
        student_params_M=sum(p.numel() for p in model.parameters()) / 1e6,
        optim_wrapper=type(wrapper).__name__)
    if compiled:
        row.update(
            graphs=after['unique_graphs'] - start['unique_graphs'],
            graph_breaks=after['graph_breaks'] - start['graph_breaks'],
            recompiled_in_timed=max(
                after['unique_graphs'] - before['unique_graphs'],
                after['frames'] - before['frames']))
    # After the timed steps and their counters: profiling costs host time.
    row.update(profile_steps(step, device, args.profile_steps))
    return row


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's arguments."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument(
        '--variants', nargs='+', default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument('--arch', default='deit-base')
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--patch-size', type=int, default=16)
    parser.add_argument('--batch', type=int, default=128)
    parser.add_argument('--classes', type=int, default=1000)
    parser.add_argument(
        '--drop-path',
        type=float,
        default=0.1,
        help='student drop_path_rate (DeiT-B recipe: 0.1)')
    parser.add_argument(
        '--template-width',
        type=int,
        default=None,
        help='WaveTemplate template_width (default: its own, 192)')
    parser.add_argument(
        '--num-templates',
        type=int,
        default=None,
        help='WaveTemplate num_templates (default: its own, 12)')
    parser.add_argument(
        '--kron-order',
        choices=['ST', 'TS'],
        default=None,
        help='WaveTemplate kron_order (default: its own)')
    parser.add_argument(
        '--qkv',
        choices=['fused', 'split'],
        default=None,
        help='WaveTemplate fused_qkv (default: its own)')
    parser.add_argument('--dtype', default='bf16', choices=['bf16', 'fp32'])
    parser.add_argument(
        '--warmup',
        type=int,
        default=10,
        help='steps before timing (the first compiles)')
    parser.add_argument(
        '--iters', type=int, default=20, help='timed steps per round')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument(
        '--compile-mode',
        default=None,
        help="torch.compile mode, e.g. 'max-autotune'")
    parser.add_argument('--fused-adamw', action='store_true')
    parser.add_argument(
        '--peak-tflops',
        type=float,
        default=779.0,
        help='bf16 peak TFLOP/s for MFU (H100: 779 measured; '
        'H200: 989 dense)')
    parser.add_argument(
        '--fwd-gflop',
        type=float,
        default=None,
        help='forward GFLOP/img override (ViT-B/16: 35.16)')
    parser.add_argument(
        '--profile-steps',
        type=int,
        default=3,
        help='steps profiled after the timed ones (0: none)')
    add_arguments(parser)
    parser.add_argument('--out', default=None, help='JSON results path')
    return parser


def main() -> None:
    args = build_parser().parse_args()
    if args.worker:
        sys.exit(work(args, run_variant, COLUMNS))
    sys.exit(orchestrate(args, sys.argv[1:], Path(__file__).resolve()))


if __name__ == '__main__':
    main()
