"""The fused compose (``wave_mm.kernels``) against the torch path, on CPU.

Triton picks its interpreter when kernels are decorated, so the kernel
checks run in one subprocess started with ``TRITON_INTERPRET=1`` (this file
as a script, on CPU tensors); each ``test_interpreted`` case reports one of
them. The dispatcher and the op's shape checks are tested in-process.
"""
import json
import os
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import pytest
import torch

from wave_mm import kronecker

ROOT = Path(__file__).resolve().parents[2]
MARK = 'KRON_COMPOSE_RESULTS '
CHECKS: Dict[str, Callable[[], None]] = {}
# (batch, L, K, A, B, o, i, OUT, IN): crops, batch dims, K of 1, 5, 12, 70.
SPECS = [((), 2, 3, 2, 3, 4, 5, 7, 11), ((3, ), 2, 12, 2, 2, 6, 8, 11, 16),
         ((2, 2), 1, 5, 3, 1, 3, 20, 9, 17), ((), 3, 70, 2, 2, 4, 4, 8, 6),
         ((), 1, 1, 1, 2, 2, 3, 2, 5)]


def check(fn: Callable[[], None]) -> Callable[[], None]:
    """Register ``fn`` as a check run in the interpreter subprocess."""
    CHECKS[fn.__name__] = fn
    return fn


def entries(dtype: torch.dtype,
            seed: int = 0,
            specs: Sequence[tuple] = SPECS) -> List[tuple]:
    """Random ``(scalers, templates, shape)`` per spec, needing grads."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for batch, L, K, A, B, o, i, OUT, IN in specs:
        s = torch.randn(*batch, L, K, A, B, generator=g, dtype=dtype)
        t = torch.randn(*batch, K, o, i, generator=g, dtype=dtype)
        out.append((s.requires_grad_(), t.requires_grad_(), [OUT, IN]))
    return out


def fused(es: List[tuple]) -> List[torch.Tensor]:
    """The op on ``es`` (what ``compose_all`` calls on CUDA)."""
    return torch.ops.wave_mm.kron_compose([e[0] for e in es],
                                          [e[1] for e in es],
                                          [n for e in es for n in e[2]])


def assert_paths_agree(es: List[tuple], tol: float) -> None:
    """Weights and gradients of the op equal the torch path's."""
    ref = [kronecker.compose(*e) for e in es]
    out = fused(es)
    grads = [torch.randn_like(w) for w in ref]
    inputs = [x for e in es for x in e[:2]]
    want = torch.autograd.grad(ref, inputs, grads)
    got = torch.autograd.grad(out, inputs, grads)
    for a, b in zip(out + list(got), ref + list(want)):
        assert a.shape == b.shape and a.dtype == b.dtype
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)


def kron_reference(s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``sum_k kron(S[..., l, k], T[..., k])`` with ``torch.kron``."""
    if t.ndim > 3:
        return torch.stack([kron_reference(a, b) for a, b in zip(s, t)])
    return torch.stack(
        [sum(torch.kron(s_l[k], t[k]) for k in range(len(t))) for s_l in s])


@check
def forward_matches_kron() -> None:
    from wave_mm.kernels import kron_compose as kc
    es = entries(torch.float64)
    with torch.no_grad():
        for w, (s, t, (rows, cols)) in zip(fused(es), es):
            full = kron_reference(s, t)
            torch.testing.assert_close(w, full[..., :rows, :cols])
        # Tiles smaller than a block: several tiles per block row.
        kc.FORWARD = dict(BLOCK_M=16, BLOCK_N=16, num_warps=1)
        for w, e in zip(fused(es), es):
            torch.testing.assert_close(w, kronecker.compose(*e))


@check
def float64_and_float32_match_torch_path() -> None:
    assert_paths_agree(entries(torch.float64, 1), 1e-12)
    assert_paths_agree(entries(torch.float32, 2), 1e-4)


@check
def split_reductions_match_torch_path() -> None:
    from wave_mm.kernels import kron_compose_grad as kg
    small = dict(BLOCK_M=16, BLOCK_N=16, num_warps=1)
    kg.GRAD_SCALERS, kg.GRAD_TEMPLATES = small, small
    kg.PROGRAMS_PER_SM = 64  # as many splits as there are tiles to reduce
    # The last spec's 48 blocks make 3 chunks of BLOCK_M blocks for dT.
    specs = SPECS[:3] + [((), 4, 3, 3, 4, 2, 2, 5, 7)]
    assert_paths_agree(entries(torch.float64, 3, specs), 1e-12)


@check
def float16_within_half_precision() -> None:
    es = entries(torch.float16, 4)
    ref = [
        kronecker.compose(s.double(), t.double(), shape) for s, t, shape in es
    ]
    for w, r in zip(fused(es), ref):
        assert w.dtype == torch.float16
        assert ((w.double() - r).norm() / r.norm()).item() < 2e-3


@check
def noncontiguous_inputs_and_unused_outputs() -> None:
    s = torch.randn(2, 3, 4, 2, dtype=torch.float64).transpose(-1, -2)
    t = torch.randn(3, 5, 3, dtype=torch.float64).transpose(-1, -2)
    s.requires_grad_(), t.requires_grad_()
    assert not (s.is_contiguous() or t.is_contiguous())
    es = [(s, t, [5, 17]), (s.detach() * 2, t.detach(), [6, 20])]
    out = fused(es)
    torch.testing.assert_close(out[0], kronecker.compose(s, t, (5, 17)))
    # Only the first output is used: the second's gradient counts as zero.
    got = torch.autograd.grad(out[0].sum(), (s, t))
    want = torch.autograd.grad(kronecker.compose(s, t, (5, 17)).sum(), (s, t))
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)


@check
def weights_of_parts_match_torch_path() -> None:
    from wave_mm.kernels import compose_op

    # A fused qkv of 'ST' order, width 6 from blocks of 4 (each part
    # cropped), as compose_all gives it to the op: one layer per part.
    s = torch.randn(2, 3, 6, 2, dtype=torch.float64, requires_grad=True)
    t = torch.randn(3, 4, 4, dtype=torch.float64, requires_grad=True)
    parts = compose_op._parts(s, t, (18, 6), 3)
    w = kronecker.join_rows(fused([parts])[0], 2, 3)
    ref = kronecker.compose(s, t, (18, 6), 'ST', 3)
    torch.testing.assert_close(w, ref)
    grad = torch.randn_like(ref)
    for a, b in zip(
            torch.autograd.grad(w, (s, t), grad),
            torch.autograd.grad(ref, (s, t), grad)):
        torch.testing.assert_close(a, b)


@check
def gradcheck_and_opcheck() -> None:
    s = torch.randn(1, 2, 2, 2, dtype=torch.float64, requires_grad=True)
    t = torch.randn(2, 3, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b: fused([(a, b, [5, 4])])[0], (s, t), fast_mode=True)
    # Schema, autograd registration and fake tensors; compiling is below.
    args = ([s, s.detach()], [t, t.detach()], [5, 4, 6, 3])
    result = torch.library.opcheck(
        torch.ops.wave_mm.kron_compose,
        args,
        test_utils=('test_schema', 'test_autograd_registration',
                    'test_faketensor'))
    assert set(result.values()) == {'SUCCESS'}, result


@check
def compiles_as_one_graph() -> None:
    es = entries(torch.float64, 6)[:2]
    compiled = torch.compile(
        lambda es: [2 * w for w in fused(es)],
        backend='aot_eager',
        fullgraph=True)
    out = compiled(es)
    inputs = [x for e in es for x in e[:2]]
    grads = torch.autograd.grad(out, inputs, [torch.ones_like(w) for w in out])
    ref = [2 * kronecker.compose(*e) for e in es]
    want = torch.autograd.grad(ref, inputs, [torch.ones_like(w) for w in ref])
    for a, b in zip(out + list(grads), ref + list(want)):
        torch.testing.assert_close(a, b)


def run_checks() -> Dict[str, Optional[str]]:
    """Run every check (fresh tiles each); ``{name: None or traceback}``."""
    import wave_mm.kernels.compose_op  # noqa: F401  (registers the op)
    from wave_mm.kernels import kron_compose, kron_compose_grad
    tunables = [(kron_compose, 'FORWARD')] + [
        (kron_compose_grad, a)
        for a in ('GRAD_SCALERS', 'GRAD_TEMPLATES', 'PROGRAMS_PER_SM')
    ]
    defaults = [(m, a, getattr(m, a)) for m, a in tunables]
    results = {}
    for name, fn in CHECKS.items():
        for module, attr, value in defaults:
            setattr(module, attr, value)
        try:
            fn()
            results[name] = None
        except Exception:  # report it, run the rest
            results[name] = traceback.format_exc()
    return results


@pytest.fixture(scope='module')
def interpreted() -> Dict[str, Optional[str]]:
    env = dict(
        os.environ,
        TRITON_INTERPRET='1',
        PYTHONPATH=os.pathsep.join(
            [str(ROOT), os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.run([sys.executable, __file__],
                          cwd=ROOT,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
    assert proc.returncode == 0 and lines, proc.stdout + proc.stderr
    return json.loads(lines[-1][len(MARK):])


@pytest.mark.slow  # the Triton interpreter in a subprocess: over a minute
@pytest.mark.parametrize('name', list(CHECKS))
def test_interpreted(interpreted, name):
    assert name in interpreted
    assert interpreted[name] is None, interpreted[name]


def test_dispatcher_takes_torch_path_on_cpu(monkeypatch):
    from wave_mm.kernels import compose, compose_all, compose_op, use_fused

    def fail(*args):
        raise AssertionError('the fused op ran on CPU')

    monkeypatch.setattr(compose_op, 'kron_compose', fail)
    es = entries(torch.float32)
    assert not any(use_fused(*e) for e in es)
    for w, e in zip(compose_all(es), es):
        assert torch.equal(w, kronecker.compose(*e))
    s, t = torch.randn(3, 2, 4), torch.randn(2, 5)
    assert torch.equal(compose(s, t, (18, )), kronecker.compose(s, t, (18, )))


#: ``'TS'`` weights: (scalers, templates, shape, chunks), cropped, with batch
#: dims, and a fused qkv of 3 parts (each part cropped on its own).
TS_SPECS = [((), 2, 3, 2, 3, 4, 5, 7, 11, 1),
            ((3, ), 2, 4, 2, 2, 6, 8, 11, 16, 1),
            ((), 2, 3, 2, 3, 6, 5, 9, 13, 3)]


def ts_entries(dtype: torch.dtype) -> List[tuple]:
    g = torch.Generator().manual_seed(5)
    out = []
    for batch, L, K, A, B, o, i, OUT, IN, chunks in TS_SPECS:
        s = torch.randn(*batch, L, K, A, B, generator=g, dtype=dtype)
        t = torch.randn(*batch, K, o, i, generator=g, dtype=dtype)
        out.append((s.requires_grad_(), t.requires_grad_(), [OUT, IN], chunks))
    return out


def assert_ts_agrees(compose_all: Callable, tol: float) -> None:
    """``compose_all(..., 'TS')`` equals the torch path, with gradients."""
    es = ts_entries(torch.float64)
    out = compose_all([e[:3] for e in es], 'TS', [e[3] for e in es])
    ref = [kronecker.compose(*e[:3], 'TS', e[3]) for e in es]
    grads = [torch.randn_like(w) for w in ref]
    inputs = [x for e in es for x in e[:2]]
    got = torch.autograd.grad(out, inputs, grads)
    want = torch.autograd.grad(ref, inputs, grads)
    for a, b in zip(out + list(got), ref + list(want)):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)


@check
def order_ts_through_the_kernels() -> None:
    from wave_mm.kernels import compose_op
    compose_op.use_fused = lambda s, t, shape, order='ST': len(shape) == 2
    assert_ts_agrees(compose_op.compose_all, 1e-12)


def test_the_order_ts_takes_the_kernels_and_vectors_the_torch_path(
        monkeypatch):
    from wave_mm.kernels import compose_op, use_fused

    class CudaLike:
        """Stands for a CUDA tensor: ``use_fused`` reads only these."""
        is_cuda, dtype, shape = True, torch.float32, (2, 3, 2, 2)

    monkeypatch.setattr(compose_op, 'HAS_TRITON', True)
    cuda = CudaLike()
    assert use_fused(cuda, cuda, (8, 8)) and use_fused(cuda, cuda,
                                                       (8, 8), 'TS')
    assert not use_fused(cuda, cuda, (8, ))
    with pytest.raises(ValueError, match='kron_order must be one of'):
        use_fused(cuda, cuda, (8, 8), 'ts')


def test_ts_is_read_from_st_products(monkeypatch):
    """On the kernels' path a 'TS' weight is the 'ST' products of its
    parts' factors in 'TS' order: here the op is stood in for by the torch
    path in 'ST' (the kernels themselves: the interpreted checks)."""
    from wave_mm.kernels import compose_op

    def st_products(scalers, templates, shapes):
        return [
            kronecker.compose(s, t, shapes[2 * j:2 * j + 2])
            for j, (s, t) in enumerate(zip(scalers, templates))
        ]

    monkeypatch.setattr(
        compose_op,
        'use_fused',
        lambda s, t, shape, order='ST': len(shape) == 2)
    monkeypatch.setattr(compose_op, 'kron_compose', st_products)
    assert_ts_agrees(compose_op.compose_all, 1e-12)


def test_op_rejects_what_compose_rejects():
    import wave_mm.kernels  # noqa: F401  (registers the op)
    op = torch.ops.wave_mm.kron_compose
    meta = dict(device='meta')
    with pytest.raises(ValueError, match='exceeds'):
        op([torch.empty(1, 2, 1, 1, **meta)], [torch.empty(2, 4, 4, **meta)],
           [5, 4])
    with pytest.raises(ValueError, match='do not match'):
        op([torch.empty(1, 3, 1, 1, **meta)], [torch.empty(2, 4, 4, **meta)],
           [4, 4])
    with pytest.raises(ValueError, match='one dtype'):
        op([torch.empty(1, 2, 1, 1, **meta)],
           [torch.empty(2, 4, 4, dtype=torch.float64, **meta)], [4, 4])
    out = op([torch.empty(3, 1, 2, 2, 3, **meta)],
             [torch.empty(3, 2, 4, 5, **meta)], [7, 15])
    assert out[0].shape == (3, 1, 7, 15)


if __name__ == '__main__':
    print(MARK + json.dumps(run_checks()), flush=True)
