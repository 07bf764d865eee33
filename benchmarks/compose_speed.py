"""Time building ViT block weights from WAVE templates, forward + backward.

Paths timed for each template configuration (``blocks`` = q, k, v, proj,
fc1, fc2 of every layer; ``all`` = every templated tensor, vectors and
embeddings included):

- ``einsum``: ``einsum('lkab,kij->laibj', S, T).reshape(L, A*o, B*i)`` per
  matrix type, the plain baseline;
- ``torch``: ``wave_mm.kronecker.compose`` per group of equal shapes (q, k,
  v and proj stacked), the bank's pure-torch path (blocks only);
- ``fused``: ``wave_mm.kernels.compose_all`` of the six matrix types, one
  fused Triton op call (the torch path off CUDA; blocks only);
- ``bank``: ``WaveTemplate.bank()`` alone (fused matrices on CUDA);
- ``generate``: ``WaveTemplate.generate()`` = ``bank()`` then
  ``layout.to_state_dict()``, the real code path of every forward;
- ``compiled``: ``torch.compile(WaveTemplate.generate)`` (``--compile``).

Backward is ``torch.autograd.grad`` of the outputs with a fixed random
upstream gradient into templates and scalers. On CUDA, ``gpu_fwd_bwd_ms`` is
the summed kernel time of one forward + backward (torch.profiler): where it
is far below ``fwd_bwd_ms``, the host (Python, dispatch, launches) is the
limit, not the GPU. Example::

    PYTHONPATH=$PWD python benchmarks/compose_speed.py --device cuda \
        --out compose.json --compile
"""
import argparse
import sys
import traceback
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import autocast, report, time_ms  # noqa: E402

import wave_mm  # noqa: F401,E402  (registers the modules)
from wave_mm.kernels import compose_all  # noqa: E402
from wave_mm.kronecker import compose  # noqa: E402
from wave_mm.models import ALL_GROUPS, WaveTemplate  # noqa: E402

MATRICES = ('q', 'k', 'v', 'proj', 'fc1', 'fc2')
TARGET_MS = 1.0


def build(args: argparse.Namespace, width: int, ratio: int, count: int,
          groups: Sequence[str], device: torch.device) -> WaveTemplate:
    """A ``WaveTemplate`` of ``args.arch`` templating ``groups``."""
    model = WaveTemplate(
        arch=args.arch,
        img_size=args.img_size,
        patch_size=args.patch_size,
        template_width=width,
        ffn_ratio=ratio,
        num_templates=count,
        templated=tuple(groups))
    return model.to(device)


def paths(
    model: WaveTemplate, scope: str, compile_: bool
) -> Dict[str, Tuple[Callable[[], List[Tensor]], List[Tensor]]]:
    """Name -> (function returning the outputs, tensors to differentiate)."""
    bank = model.bank
    params = list(bank.parameters())
    out: Dict[str, Tuple[Callable[[], List[Tensor]], List[Tensor]]] = {}
    if scope == 'blocks':
        pairs = [(bank.scalers[t], bank.templates[t]) for t in MATRICES]

        def einsum() -> List[Tensor]:
            res = []
            for s, t in pairs:
                (n, _, a, b), (o, i) = s.shape, t.shape[1:]
                res.append(
                    torch.einsum('lkab,kij->laibj', s,
                                 t).reshape(n, a * o, b * i))
            return res

        def torch_path() -> List[Tensor]:
            res = []
            for names in bank.fused:
                if len(names) == 1:
                    res.append(
                        compose(bank.scalers[names[0]],
                                bank.templates[names[0]],
                                bank.shapes[names[0]]))
                    continue
                res += compose(
                    torch.stack([bank.scalers[n] for n in names]),
                    torch.stack([bank.templates[n] for n in names]),
                    bank.shapes[names[0]]).unbind(0)
            return res

        def fused() -> List[Tensor]:
            return compose_all([(s, t, bank.shapes[n])
                                for n, (s, t) in zip(MATRICES, pairs)])

        flat = [p for pair in pairs for p in pair]
        out['einsum'] = (einsum, flat)
        out['torch'] = (torch_path, flat)
        out['fused'] = (fused, flat)
        out['bank'] = (lambda: list(bank().values()), params)
    out['generate'] = (lambda: list(model.generate().values()), params)
    if compile_ and scope == 'blocks':
        compiled = torch.compile(model.generate)
        out['compiled'] = (lambda: list(compiled().values()), params)
    return out


def measure(fn: Callable[[], List[Tensor]], params: List[Tensor],
            device: torch.device, dtype: str,
            args: argparse.Namespace) -> Dict[str, float]:
    """Forward and forward + backward milliseconds of one path."""
    with autocast(device, dtype):
        grads = [torch.randn_like(o) for o in fn()]

    def forward() -> None:
        with autocast(device, dtype):
            fn()

    def forward_backward() -> None:
        with autocast(device, dtype):
            outs = fn()
        torch.autograd.grad(outs, params, grads)

    fwd = time_ms(forward, device, args.warmup, args.iters, args.rounds)
    both = time_ms(forward_backward, device, args.warmup, args.iters,
                   args.rounds)
    res = dict(
        fwd_ms=fwd['median'],
        fwd_bwd_ms=both['median'],
        fwd_bwd_min_ms=both['min'],
        out_M=sum(g.numel() for g in grads) / 1e6)
    if device.type == 'cuda':
        try:
            res['gpu_fwd_bwd_ms'] = kernel_ms(forward_backward)
        except (RuntimeError, AttributeError):  # no profiler: wall times stand
            pass
    return res


def kernel_ms(fn: Callable[[], None], calls: int = 5) -> float:
    """Summed CUDA kernel milliseconds per call of ``fn``."""
    activities = [torch.profiler.ProfilerActivity.CUDA]
    with torch.profiler.profile(activities=activities) as prof:
        for _ in range(calls):
            fn()
        torch.cuda.synchronize()
    kernels = [
        e.device_time for e in prof.events()
        if e.device_type == torch.autograd.DeviceType.CUDA
    ]
    return sum(kernels) / calls / 1e3


def configs(args: argparse.Namespace) -> List[Tuple[str, int, int, int]]:
    """(label, template width, ffn ratio, templates per type)."""
    cases = []
    if 'default' in args.cases:
        cases.append((f'{args.width}x{args.ratio}, K={args.num_templates}',
                      args.width, args.ratio, args.num_templates))
    if 'b64' in args.cases:
        cases += [(f'64x64, K={k}', 64, 1, k) for k in args.k64]
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--arch', default='deit-base')
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--patch-size', type=int, default=16)
    parser.add_argument(
        '--cases',
        nargs='+',
        default=['default', 'b64'],
        choices=['default', 'b64'])
    parser.add_argument(
        '--width',
        type=int,
        default=192,
        help='template width of the default case')
    parser.add_argument('--ratio', type=int, default=4)
    parser.add_argument('--num-templates', type=int, default=12)
    parser.add_argument(
        '--k64',
        type=int,
        nargs='+',
        default=[4, 16, 64],
        help='templates per type of the 64x64 cases')
    parser.add_argument(
        '--scopes',
        nargs='+',
        default=['blocks', 'all'],
        choices=['blocks', 'all'])
    parser.add_argument(
        '--dtypes',
        nargs='+',
        default=['fp32', 'bf16'],
        choices=['fp32', 'bf16', 'fp16'])
    parser.add_argument(
        '--compile',
        action='store_true',
        help='also time torch.compile(generate), blocks only')
    parser.add_argument(
        '--paths',
        nargs='+',
        default=None,
        choices=['einsum', 'torch', 'fused', 'bank', 'generate', 'compiled'],
        help='paths to time (default: all available)')
    parser.add_argument(
        '--iters',
        type=int,
        default=None,
        help='timed calls per round (default 30 GPU, 2 CPU)')
    parser.add_argument('--warmup', type=int, default=None)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--out', default=None, help='JSON results path')
    args = parser.parse_args()
    device = torch.device(args.device)
    gpu = device.type == 'cuda'
    args.compile = args.compile or 'compiled' in (args.paths or [])
    args.iters = args.iters or (30 if gpu else 2)
    args.warmup = args.warmup if args.warmup is not None else (5 if gpu else 1)
    torch.backends.cuda.matmul.allow_tf32 = False  # honest fp32

    rows = []
    for label, width, ratio, count in configs(args):
        for scope in args.scopes:
            groups = ('attn', 'ffn') if scope == 'blocks' else ALL_GROUPS
            model = build(args, width, ratio, count, groups, device)
            for name, (fn, params) in paths(model, scope,
                                            args.compile).items():
                if args.paths and name not in args.paths:
                    continue
                for dtype in args.dtypes:
                    try:
                        res = measure(fn, params, device, dtype, args)
                    except Exception as exc:  # keep the other rows
                        traceback.print_exc()
                        res = dict(error=f'{type(exc).__name__}: {exc}'[:200])
                    row = dict(
                        case=label, scope=scope, path=name, dtype=dtype, **res)
                    if gpu and 'fwd_bwd_ms' in res:
                        row['<=1ms'] = 'yes' if res[
                            'fwd_bwd_ms'] <= TARGET_MS else 'no'
                    rows.append(row)
                    print(
                        f"{label:>14} {scope:>6} {name:>15} {dtype}: "
                        f"{res}",
                        flush=True)
            del model
            if gpu:
                torch.cuda.empty_cache()
    columns = [
        'case', 'scope', 'path', 'dtype', 'out_M', 'fwd_ms', 'fwd_bwd_ms',
        'fwd_bwd_min_ms'
    ] + (['gpu_fwd_bwd_ms', '<=1ms'] if gpu else [])
    report('compose_speed', f'Composing {args.arch} weights from templates',
           args, device, rows, columns,
           lambda r: f"{r['case']} {r['scope']} {r['path']} {r['dtype']}")


if __name__ == '__main__':
    main()
