"""The fused compose on CUDA against the torch path and a float64 reference.

For the ViT-B block weights (q, k, v, proj, fc1, fc2) of each template
configuration that ``benchmarks/compose_speed.py`` times, plus one cropped
shape, compares :func:`wave_mm.kernels.compose` and
:func:`wave_mm.kronecker.compose` with a float64 reference, forward and
backward, in fp32 and under bf16 autocast: per group, all groups in one
:func:`wave_mm.kernels.compose_all` call, the op itself (also where the
dispatcher keeps the torch path) and, for the first configuration,
``torch.compile(compose_all, fullgraph=True)``. Errors are ``|x - ref| /
|ref|`` (Frobenius norms); a fused path passes where its error is within a
bound per dtype or twice the torch path's. Skipped without CUDA::

    python -m pytest tests/kernels/test_fused_compose_cuda.py
"""
from typing import Callable, Dict, List, Sequence, Tuple

import pytest
import torch
from torch import Tensor

import wave_mm.kernels as kernels
from wave_mm import kronecker

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available() or not kernels.HAS_TRITON,
    reason='needs a CUDA device and triton')

# (label, template width, ffn ratio, templates per type), as compose_speed.
CASES = [('192x4, K=12', 192, 4, 12)] + [(f'64x64, K={k}', 64, 1, k)
                                         for k in (4, 16, 64)]
CROP = 'crop 150x130'
BOUND = {'fp32': 1e-5, 'bf16': 1e-2}
DEPTH = 12
Group = Tuple[List[int], Tensor, Tensor]
Entry = Tuple[Tensor, Tensor, List[int]]


def vit_groups(width: int, ratio: int, count: int, dim: int, hidden: int,
               depth: int, device: torch.device) -> List[Group]:
    """``(shape, scalers [G, L, K, A, B], templates [G, K, o, i])`` of the
    bank's groups: q/k/v/proj batched, then fc1 and fc2."""
    out = []
    for num, shape, block in [(4, (dim, dim), (width, width)),
                              (1, (hidden, dim), (ratio * width, width)),
                              (1, (dim, hidden), (width, ratio * width))]:
        grid = kronecker.grid_shape(shape, block)
        out.append(
            (list(shape), torch.randn(num, depth, count, *grid, device=device),
             0.02 * torch.randn(num, count, *block, device=device)))
    return out


def groups_of(label: str) -> List[Group]:
    """The groups of one case of :data:`CASES`, or of the crop: 150 x 130
    from a 3 x 3 grid of 64 x 48 blocks."""
    device = torch.device('cuda')
    torch.manual_seed(0)
    if label == CROP:
        return [([150, 130], torch.randn(2, 3, 5, 3, 3, device=device),
                 torch.randn(2, 5, 64, 48, device=device))]
    _, width, ratio, count = next(c for c in CASES if c[0] == label)
    return vit_groups(width, ratio, count, 768, 3072, DEPTH, device)


def rel(x: Tensor, ref: Tensor) -> float:
    """``|x - ref| / |ref|`` in float64; NaN or inf count as mismatch."""
    err = ((x.double() - ref).norm() / ref.norm()).item()
    return err if err == err else float('inf')


def run(fn: Callable[[List[Entry]], List[Tensor]], groups: Sequence[Group],
        dtype: str, grads: List[Tensor]) -> List[Tuple[Tensor, ...]]:
    """Weights, dS and dT per group of ``fn`` (entries to weights), under
    ``dtype`` autocast."""
    inputs = [(s.detach().requires_grad_(), t.detach().requires_grad_())
              for _, s, t in groups]
    with torch.autocast('cuda', torch.bfloat16, enabled=dtype == 'bf16'):
        weights = fn([(s, t, sh)
                      for (s, t), (sh, _, _) in zip(inputs, groups)])
    flat = [x for pair in inputs for x in pair]
    diffs = torch.autograd.grad(
        weights, flat, [g.to(w.dtype) for g, w in zip(grads, weights)])
    return [(w, *diffs[2 * j:2 * j + 2]) for j, w in enumerate(weights)]


def op(entries: List[Entry]) -> List[Tensor]:
    """The fused op itself, also where :func:`wave_mm.kernels.use_fused`
    keeps the torch path (fp32 with many templates)."""
    dtype = kernels.compute_dtype(*entries[0][:2])
    return torch.ops.wave_mm.kron_compose([e[0].to(dtype) for e in entries],
                                          [e[1].to(dtype) for e in entries],
                                          [n for e in entries for n in e[2]])


def errors_of(groups: Sequence[Group], dtype: str,
              compiled: bool) -> Dict[str, float]:
    """Max errors of the torch and fused paths (and compiled fused); bf16
    weights must come out in bf16."""
    grads = [
        torch.randn(*s.shape[:-3], *sh, device=s.device, dtype=torch.float64)
        for sh, s, _ in groups
    ]
    refs = run(lambda es: [kronecker.compose(*e) for e in es],
               [(sh, s.double(), t.double()) for sh, s, t in groups], 'fp32',
               grads)
    paths = {
        'torch': lambda es: [kronecker.compose(*e) for e in es],
        'fused': lambda es: [kernels.compose(*e) for e in es],
        'fused_all': kernels.compose_all,
        'op': op,
    }
    if compiled:
        paths['compiled'] = torch.compile(kernels.compose_all, fullgraph=True)
    errors = {}
    for name, fn in paths.items():
        outs = run(fn, groups, dtype, grads)
        for what, i in (('W', 0), ('dS', 1), ('dT', 2)):
            errors[f'{name} {what}'] = max(
                rel(o[i], r[i]) for o, r in zip(outs, refs))
        if dtype == 'bf16':
            dtypes = {o[0].dtype for o in outs}
            assert dtypes == {torch.bfloat16}, f'{name} {dtypes}'
    return errors


@pytest.fixture(autouse=True)
def honest_fp32():
    """An fp32 reference without TF32."""
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32 = tf32


@pytest.mark.parametrize('dtype', ['fp32', 'bf16'])
@pytest.mark.parametrize('label', [c[0] for c in CASES] + [CROP])
def test_fused_compose_matches_the_torch_path(label, dtype):
    errors = errors_of(groups_of(label), dtype, compiled=label == CASES[0][0])
    bad = {
        k: v
        for k, v in errors.items() if not k.startswith('torch')
        and v > max(BOUND[dtype], 2 * errors['torch ' + k.split()[-1]])
    }
    assert not bad, f'{label} {dtype}: {bad} (all: {errors})'


@pytest.mark.parametrize('order', ['ST', 'TS'])
def test_a_fused_qkv_in_either_order_matches_the_torch_path(order):
    """ViT-B's qkv as one type of 3 parts, cropped to width 700 from
    64-wide blocks, through the kernels: 'ST' as a layer per part, 'TS' as
    the 'ST' products of each part read in its order; both as the float64
    reference."""
    torch.manual_seed(0)
    device = torch.device('cuda')
    block = (64, 64) if order == 'ST' else (192, 64)
    shape = (2100, 700)
    grid = kronecker.grid_shape(shape, block, order, 3)
    s = torch.randn(DEPTH, 16, *grid, device=device, requires_grad=True)
    t = (0.02 * torch.randn(16, *block, device=device)).requires_grad_()
    assert kernels.use_fused(s, t, shape, order)
    w = kernels.compose_all([(s, t, shape)], order, [3])[0]
    ref = kronecker.compose(s.double(), t.double(), shape, order, 3)
    assert rel(w, ref) < BOUND['fp32']
    grad = torch.randn_like(ref)
    got = torch.autograd.grad(w, (s, t), grad.float())
    sd, td = s.detach().double().requires_grad_(), t.detach().double(
    ).requires_grad_()
    want = torch.autograd.grad(
        kronecker.compose(sd, td, shape, order, 3), (sd, td), grad)
    for a, b in zip(got, want):
        assert rel(a, b) < BOUND['fp32']
