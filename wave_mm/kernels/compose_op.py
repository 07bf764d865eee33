"""The fused compose as a torch op, and the functions that pick it.

``torch.ops.wave_mm.kron_compose`` is :func:`wave_mm.kronecker.compose` for
a list of matrix weight types at once, run by the Triton kernels of
:mod:`wave_mm.kernels.kron_compose` and
:mod:`wave_mm.kernels.kron_compose_grad` (one launch for the forward of the
whole list, three for its gradients). It is registered with a fake (meta)
implementation and an autograd formula, so it runs eagerly and as one opaque
node inside ``torch.compile``. Triton is imported only when the op runs.
"""
import importlib.util
from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from wave_mm import kronecker

#: Whether the fused op can run at all (it still needs CUDA tensors).
HAS_TRITON = importlib.util.find_spec('triton') is not None
#: Compute dtypes the fused op takes on CUDA; others use the torch path.
FUSED_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
#: Most templates per type fused in fp32: past it, the fp32-accurate
#: (tf32x3) kernels were slower than cuBLAS on an H100.
FP32_MAX_TEMPLATES = 32
Entry = Tuple[Tensor, Tensor, Sequence[int]]


def _check(scalers: Tensor, templates: Tensor, shape: Sequence[int],
           dtype: torch.dtype) -> None:
    """Raise ``ValueError`` where :func:`wave_mm.kronecker.compose` would,
    or where the dtype is not the list's."""
    if len(shape) != 2 or scalers.ndim < 4:
        raise ValueError(f'kron_compose takes 2-D blocks, got scalers '
                         f'{tuple(scalers.shape)} and shape {tuple(shape)}')
    grid, block = scalers.shape[-2:], templates.shape[-2:]
    if (templates.shape[:-2] != (*scalers.shape[:-4], scalers.shape[-3])
            or templates.ndim != scalers.ndim - 1):
        raise ValueError(f'scalers {tuple(scalers.shape)} do not match '
                         f'templates {tuple(templates.shape)}')
    if any(n > g * b for n, g, b in zip(shape, grid, block)):
        raise ValueError(f'shape {tuple(shape)} exceeds the grid '
                         f'{tuple(grid)} of {tuple(block)} blocks')
    if scalers.dtype != dtype or templates.dtype != dtype:
        raise ValueError(f'kron_compose takes one dtype, got {dtype}, '
                         f'{scalers.dtype} and {templates.dtype}')


def _pairs(shapes: Sequence[int]) -> List[List[int]]:
    """``[O0, I0, O1, I1, ...]`` as ``[[O0, I0], [O1, I1], ...]``."""
    return [list(shapes[j:j + 2]) for j in range(0, len(shapes), 2)]


@torch.library.custom_op('wave_mm::kron_compose', mutates_args=())
def kron_compose(scalers: List[Tensor], templates: List[Tensor],
                 shapes: List[int]) -> List[Tensor]:
    """Fused :func:`wave_mm.kronecker.compose` of matrix weight types.

    Args:
        scalers: Per type ``[*batch, L, K, A, B]``, one dtype for all.
        templates: Per type ``[*batch, K, o, i]``.
        shapes: ``[O0, I0, O1, I1, ...]``, ``(O, I) <= (A*o, B*i)``.

    Returns:
        Per type ``[*batch, L, O, I]`` weights in the inputs' dtype.
    """
    from .kron_compose import compose_forward
    pairs = _pairs(shapes)
    for s, t, shape in zip(scalers, templates, pairs, strict=True):
        _check(s, t, shape, scalers[0].dtype)
    return compose_forward([s.contiguous() for s in scalers],
                           [t.contiguous() for t in templates], pairs)


@kron_compose.register_fake
def _(scalers: List[Tensor], templates: List[Tensor],
      shapes: List[int]) -> List[Tensor]:
    pairs = _pairs(shapes)
    for s, t, shape in zip(scalers, templates, pairs, strict=True):
        _check(s, t, shape, scalers[0].dtype)
    return [s.new_empty(*s.shape[:-3], *sh) for s, sh in zip(scalers, pairs)]


@torch.library.custom_op('wave_mm::kron_compose_backward', mutates_args=())
def kron_compose_backward(grads: List[Tensor], scalers: List[Tensor],
                          templates: List[Tensor]) -> Tensor:
    """Gradients of :func:`kron_compose` for the upstream ``grads``: every
    type's ``dS``, then every type's ``dT``, flattened into one tensor."""
    from .kron_compose_grad import compose_backward
    dtype = scalers[0].dtype
    return compose_backward([g.to(dtype).contiguous() for g in grads],
                            [s.contiguous() for s in scalers],
                            [t.contiguous() for t in templates])


@kron_compose_backward.register_fake
def _(grads: List[Tensor], scalers: List[Tensor],
      templates: List[Tensor]) -> Tensor:
    total = sum(x.numel() for x in (*scalers, *templates))
    return scalers[0].new_empty(total)


def _setup_context(ctx, inputs: tuple, output: List[Tensor]) -> None:
    scalers, templates, shapes = inputs
    ctx.num = len(scalers)
    ctx.shapes = _pairs(shapes)
    ctx.save_for_backward(*scalers, *templates)


def _backward(ctx, grads: List[Tensor]) -> tuple:
    saved = ctx.saved_tensors
    scalers, templates = list(saved[:ctx.num]), list(saved[ctx.num:])
    # Outputs that got no gradient count as zero.
    grads = [
        g if g is not None else s.new_zeros(*s.shape[:-3], *sh)
        for g, s, sh in zip(grads, scalers, ctx.shapes)
    ]
    flat = kron_compose_backward(grads, scalers, templates)
    views = flat.split([x.numel() for x in (*scalers, *templates)])
    views = [v.view(x.shape) for v, x in zip(views, (*scalers, *templates))]
    return views[:ctx.num], views[ctx.num:], None


kron_compose.register_autograd(_backward, setup_context=_setup_context)


def compute_dtype(scalers: Tensor, templates: Tensor) -> torch.dtype:
    """The dtype the torch path's matmul runs in: autocast's, where it is
    on (for non-fp64 inputs), else the promoted input dtype."""
    dtype = torch.promote_types(scalers.dtype, templates.dtype)
    if dtype != torch.float64 and torch.is_autocast_enabled('cuda'):
        return torch.get_autocast_dtype('cuda')
    return dtype


def use_fused(scalers: Tensor,
              templates: Tensor,
              shape: Sequence[int],
              order: kronecker.KronOrder = kronecker.DEFAULT_ORDER) -> bool:
    """Whether these inputs go to the fused op: 2-D blocks of CUDA tensors
    (either order: the kernels compute ``'ST'`` products, which
    :func:`compose_all` reads in ``'TS'`` order where asked), computed in a
    fused dtype, with triton installed."""
    kronecker.check_order(order)
    if not (HAS_TRITON and len(shape) == 2 and scalers.is_cuda
            and templates.is_cuda):
        return False
    dtype = compute_dtype(scalers, templates)
    return dtype in FUSED_DTYPES and (dtype != torch.float32 or
                                      scalers.shape[-3] <= FP32_MAX_TEMPLATES)


def compose_all(entries: Sequence[Entry],
                order: kronecker.KronOrder = kronecker.DEFAULT_ORDER,
                chunks: Optional[Sequence[int]] = None) -> List[Tensor]:
    """:func:`wave_mm.kronecker.compose` of each ``(scalers, templates,
    shape)`` in ``order``, of ``chunks`` parts each (default 1); those that
    :func:`use_fused` go to one fused op call per compute dtype.

    Same results and gradients as the torch path, in the same dtype
    (autocast's, where it is on); the others take the torch path. In
    ``'ST'`` a weight of several parts goes to the kernels as one layer per
    part (:func:`wave_mm.kronecker.split_scalers`); in ``'TS'`` each part
    is the kernels' ``'ST'`` product of the same factors, read in ``'TS'``
    order (:func:`_from_st`).
    """
    chunks = list(chunks or [1] * len(entries))
    if len(chunks) != len(entries):
        raise ValueError(f'{len(entries)} entries, {len(chunks)} chunks')
    out = [
        None if use_fused(*e, order) else kronecker.compose(*e, order, c)
        for e, c in zip(entries, chunks)
    ]
    by_dtype = {}
    for j, (scalers, templates, _) in enumerate(entries):
        if out[j] is None:
            by_dtype.setdefault(compute_dtype(scalers, templates),
                                []).append(j)
    for dtype, index in by_dtype.items():
        calls = [_kernel_entries(*entries[j], order, chunks[j]) for j in index]
        flat = [e for call in calls for e in call]
        weights = iter(
            kron_compose([s.to(dtype) for s, _, _ in flat],
                         [t.to(dtype) for _, t, _ in flat],
                         [int(n) for _, _, shape in flat for n in shape]))
        for j, call in zip(index, calls):
            made = [next(weights) for _ in call]
            out[j] = (
                kronecker.join_rows(made[0], 2, chunks[j]) if order == 'ST'
                else _from_st(made, entries[j][0], entries[j][2], chunks[j]))
    return out


def _kernel_entries(scalers: Tensor, templates: Tensor, shape: Sequence[int],
                    order: kronecker.KronOrder, chunks: int) -> List[Entry]:
    """The kernels' ``'ST'`` entries of one weight: in ``'ST'`` the weight
    of ``chunks`` parts as one of ``chunks`` times the layers
    (:func:`_parts`); in ``'TS'``, per part, the same scalers with the
    part's template rows at full size, read by :func:`_from_st`."""
    if order == 'ST':
        return [_parts(scalers, templates, shape, chunks)]
    kronecker.grid_shape(shape, templates.shape[-2:], 'TS', chunks)
    rows, cols = templates.shape[-2] // chunks, templates.shape[-1]
    full = (scalers.shape[-2] * rows, scalers.shape[-1] * cols)
    return [(scalers, templates[..., c * rows:(c + 1) * rows, :], full)
            for c in range(chunks)]


def _from_st(weights: Sequence[Tensor], scalers: Tensor, shape: Sequence[int],
             chunks: int) -> Tensor:
    """A ``'TS'`` weight from the ``'ST'`` products of its parts' factors
    (:func:`wave_mm.kronecker.st_as_ts`), each part cropped to its rows of
    ``shape``, then stacked."""
    rows, cols = shape[0] // chunks, shape[1]
    parts = [
        kronecker.st_as_ts(w, scalers.shape[-2:])[..., :rows, :cols]
        for w in weights
    ]
    return torch.cat(parts, -2) if chunks > 1 else parts[0]


def _parts(scalers: Tensor, templates: Tensor, shape: Sequence[int],
           chunks: int) -> Entry:
    """An ``'ST'`` entry of ``chunks`` parts as one of ``chunks`` times the
    layers, each part's shape."""
    if chunks == 1:
        return scalers, templates, shape
    kronecker.grid_shape(shape, templates.shape[-2:], 'ST', chunks)
    return (kronecker.split_scalers(scalers, 2, chunks), templates,
            (shape[0] // chunks, shape[1]))


def compose(scalers: Tensor,
            templates: Tensor,
            shape: Sequence[int],
            order: kronecker.KronOrder = kronecker.DEFAULT_ORDER,
            chunks: int = 1) -> Tensor:
    """:func:`wave_mm.kronecker.compose`, fused for matrices on CUDA (see
    :func:`compose_all`)."""
    return compose_all([(scalers, templates, shape)], order, [chunks])[0]
