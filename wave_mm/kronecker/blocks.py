"""Templates and scalers to weights and back, in either order, in parts.

See :mod:`wave_mm.kronecker` for the shapes and orders.
"""
import math
from typing import List, Literal, Sequence, Tuple, get_args

import torch
from torch import Tensor

KronOrder = Literal['ST', 'TS']
#: The orders of the Kronecker product, scalers first or templates first.
KRON_ORDERS: Tuple[str, ...] = get_args(KronOrder)
#: The order of everything that names none (and of files that record none).
DEFAULT_ORDER: KronOrder = 'ST'


def check_order(order: object) -> None:
    """Raise ``ValueError`` unless ``order`` is one of :data:`KRON_ORDERS`."""
    if order not in KRON_ORDERS:
        raise ValueError(f'kron_order must be one of {list(KRON_ORDERS)}, '
                         f'got {order!r:.80}')


def _part(shape: Sequence[int], block: Sequence[int], order: str,
          chunks: int) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
    """The shape and block of one of ``chunks`` parts (stacked along the
    rows) of a weight of ``shape`` and template ``block``."""
    check_order(order)
    if len(shape) != len(block):
        raise ValueError(f'shape {tuple(shape)} and template block '
                         f'{tuple(block)} have different ranks')
    if not (isinstance(chunks, int) and chunks >= 1):
        raise ValueError(f'chunks must be a positive integer, got {chunks!r}')
    if chunks == 1:
        return tuple(shape), tuple(block)
    if shape[0] % chunks or (order == 'TS' and block[0] % chunks):
        raise ValueError(
            f'a weight of {chunks} parts needs its rows (shape '
            f'{tuple(shape)}' +
            (f', template block {tuple(block)}' if order == 'TS' else '') +
            f') divisible by {chunks}')
    rows = block[0] // chunks if order == 'TS' else block[0]
    return (shape[0] // chunks, *shape[1:]), (rows, *block[1:])


def grid_shape(shape: Sequence[int],
               block: Sequence[int],
               order: KronOrder = DEFAULT_ORDER,
               chunks: int = 1) -> Tuple[int, ...]:
    """The scaler grid of a weight of ``shape`` from templates ``block``.

    Args:
        shape: The target weight shape, e.g. ``(out, in)`` or ``(length,)``.
        block: The template shape, of the same length as ``shape``.
        order: ``'ST'`` or ``'TS'``.
        chunks: Parts the weight's rows are stacked from (3 for a fused
            ``qkv``); with ``'ST'`` the grid's rows are ``chunks`` parts.

    Returns:
        ``ceil(shape / block)`` per axis, per part.
    """
    part, part_block = _part(shape, block, order, chunks)
    grid = [math.ceil(n / b) for n, b in zip(part, part_block)]
    if order == 'ST':
        grid[0] *= chunks
    return tuple(grid)


def _interleaved(rank: int, order: str) -> List[int]:
    """Axes of ``[*grid, *block]`` in the order of the weight's axes:
    ``(a, p, b, q)`` for ``'ST'``, ``(p, a, q, b)`` for ``'TS'``."""
    pairs = [(j, rank + j) if order == 'ST' else (rank + j, j)
             for j in range(rank)]
    return [axis for pair in pairs for axis in pair]


def _lay_out(blocks: Tensor, shape: Sequence[int], order: str) -> Tensor:
    """``[*lead, *grid, *block]`` laid out as ``[*lead, *shape]`` (cropped)."""
    rank = len(shape)
    lead = blocks.ndim - 2 * rank
    perm = _interleaved(rank, order)
    sizes = blocks.shape[lead:]
    out = blocks.permute(*range(lead), *(lead + a for a in perm))
    out = out.reshape(*blocks.shape[:lead],
                      *(sizes[j] * sizes[rank + j] for j in range(rank)))
    for axis, n in enumerate(shape, start=lead):
        out = out.narrow(axis, 0, n)
    return out


def _to_blocks(weights: Tensor, block: Sequence[int], order: str) -> Tensor:
    """The inverse of :func:`_lay_out`: ``[*lead, *shape]`` zero-padded
    to whole blocks, as ``[*lead, *grid, *block]``."""
    rank = len(block)
    lead = weights.ndim - rank
    shape = weights.shape[lead:]
    grid = [math.ceil(n / b) for n, b in zip(shape, block)]
    pad = []
    for n, g, b in reversed(list(zip(shape, grid, block))):
        pad += [0, g * b - n]
    padded = torch.nn.functional.pad(weights, pad)
    perm = _interleaved(rank, order)
    sizes = [*grid, *block]
    out = padded.reshape(*weights.shape[:lead], *(sizes[a] for a in perm))
    return out.permute(*range(lead),
                       *(lead + perm.index(a) for a in range(2 * rank)))


def _split_chunks(blocks: Tensor, rank: int, order: str,
                  chunks: int) -> Tensor:
    """``[*, L, *grid, *block]`` of a weight of ``chunks`` parts as
    ``[*, L*chunks, *grid', *block']``, one part per row (the parts are the
    rows of the grid for ``'ST'``, of the block for ``'TS'``)."""
    if chunks == 1:
        return blocks
    n = blocks.ndim - 2 * rank
    axis = n if order == 'ST' else n + rank
    out = blocks.unflatten(axis, (chunks, -1)).movedim(axis, n)
    return out.flatten(n - 1, n)


def _join_chunks(blocks: Tensor, rank: int, order: str, chunks: int) -> Tensor:
    """The inverse of :func:`_split_chunks`."""
    if chunks == 1:
        return blocks
    n = blocks.ndim - 2 * rank
    axis = n if order == 'ST' else n + rank
    out = blocks.unflatten(n - 1, (-1, chunks)).movedim(n, axis)
    return out.flatten(axis, axis + 1)


def join_rows(weights: Tensor, rank: int, chunks: int) -> Tensor:
    """``[*, L*chunks, *part]`` weights of the parts of a weight as
    ``[*, L, chunks*part[0], *part[1:]]``, the parts stacked along rows."""
    if chunks == 1:
        return weights
    out = weights.unflatten(-rank - 1, (-1, chunks))
    return out.flatten(-rank - 1, -rank)


def split_rows(weights: Tensor, rank: int, chunks: int) -> Tensor:
    """The inverse of :func:`join_rows`."""
    if chunks == 1:
        return weights
    out = weights.unflatten(-rank, (chunks, -1))
    return out.flatten(-rank - 2, -rank - 1)


def split_scalers(scalers: Tensor, rank: int, chunks: int) -> Tensor:
    """``'ST'`` scalers ``[*, L, K, chunks*A, ...]`` of a weight of
    ``chunks`` parts as ``[*, L*chunks, K, A, ...]``: each part a layer of
    its own (for the fused kernels; :func:`join_rows` stacks the parts)."""
    if chunks == 1:
        return scalers
    axis = scalers.ndim - rank
    out = scalers.unflatten(axis, (chunks, -1)).movedim(axis, axis - 1)
    return out.flatten(axis - 2, axis - 1)


def compose(scalers: Tensor,
            templates: Tensor,
            shape: Sequence[int],
            order: KronOrder = DEFAULT_ORDER,
            chunks: int = 1) -> Tensor:
    """Build the weights of all layers of one type: ``sum_k S ⊗ T``.

    One contraction (a single, possibly batched, GEMM) for all layers,
    blocks and templates; the result is cropped to ``shape`` where ``shape``
    is not a multiple of the block (each part on its own).

    Args:
        scalers: ``[*batch, L, K, *grid]`` with ``len(grid) ==`` the block
            rank; leading ``batch`` dims compose several types at once.
        templates: ``[*batch, K, *block]``, 1-D (vectors) or 2-D (matrices)
            blocks.
        shape: The per-layer weight shape, at most ``grid * block``.
        order: ``'ST'`` (``S ⊗ T``) or ``'TS'`` (``T ⊗ S``).
        chunks: Parts stacked along the rows (see the module docstring).

    Returns:
        ``[*batch, L, *shape]`` weights.
    """
    rank = len(shape)
    if rank not in (1, 2):
        raise ValueError(f'templates must be 1-D or 2-D blocks, got shape '
                         f'{tuple(shape)}')
    batch = scalers.shape[:-rank - 2]
    num_layers, num_templates = scalers.shape[-rank - 2:-rank]
    grid, block = scalers.shape[-rank:], templates.shape[-rank:]
    if (templates.shape[:-rank] != (*batch, num_templates)
            or templates.ndim != len(batch) + 1 + rank):
        raise ValueError(f'scalers {tuple(scalers.shape)} do not match '
                         f'templates {tuple(templates.shape)}')
    part, part_block = _part(shape, block, order, chunks)
    if order == 'ST' and grid[0] % chunks:
        raise ValueError(f'scalers {tuple(scalers.shape)} are not of '
                         f'{chunks} parts')
    part_grid = (grid[0] // chunks if order == 'ST' else grid[0], *grid[1:])
    if any(n > g * b for n, g, b in zip(part, part_grid, part_block)):
        raise ValueError(f'shape {tuple(shape)} exceeds the grid '
                         f'{tuple(grid)} of {tuple(block)} blocks')
    # [*, L*grid, K] @ [*, K, block] is one GEMM; the layout then places
    # the blocks as the order says.
    flat = scalers.movedim(-rank - 1, -1).reshape(*batch, -1, num_templates)
    blocks = flat @ templates.reshape(*batch, num_templates, -1)
    blocks = blocks.view(*batch, num_layers, *grid, *block)
    return from_blocks(blocks, shape, order, chunks)


def from_blocks(blocks: Tensor,
                shape: Sequence[int],
                order: KronOrder = DEFAULT_ORDER,
                chunks: int = 1) -> Tensor:
    """``[*, L, *grid, *block]`` blocks laid out as ``[*, L, *shape]``
    weights, as :func:`compose` lays out ``sum_k S[l, k, a, b] T[k]``:
    cropped (each part on its own); the inverse of :func:`to_blocks`."""
    rank = len(shape)
    part = _part(shape, blocks.shape[-rank:], order, chunks)[0]
    blocks = _split_chunks(blocks, rank, order, chunks)
    return join_rows(_lay_out(blocks, part, order), rank, chunks)


def to_blocks(weights: Tensor,
              block: Sequence[int],
              order: KronOrder = DEFAULT_ORDER,
              chunks: int = 1) -> Tensor:
    """The inverse of :func:`from_blocks`: ``[*, L, *shape]`` weights as
    ``[*, L, *grid, *block]``, block ``(a, b)`` of layer ``l`` the ``o x i``
    matrix that ``S[l, :, a, b]`` weighs in :func:`compose`, zero-padded to
    whole blocks."""
    rank = len(block)
    part_block = _part(weights.shape[-rank:], block, order, chunks)[1]
    blocks = _to_blocks(split_rows(weights, rank, chunks), part_block, order)
    return _join_chunks(blocks, rank, order, chunks)


def st_as_ts(weights: Tensor, grid: Sequence[int]) -> Tensor:
    """The ``'TS'`` weights of the factors whose uncropped ``'ST'`` product
    is ``weights`` (``[..., A*o, B*i]`` matrices of scaler grid
    ``(A, B)``): the same products, rows ``(a, p)`` and columns ``(b, q)``
    read as ``(p, a)`` and ``(q, b)``."""
    grid_rows, grid_cols = grid
    rows, cols = weights.shape[-2] // grid_rows, weights.shape[-1] // grid_cols
    w = weights.unflatten(-1,
                          (grid_cols, cols)).unflatten(-3, (grid_rows, rows))
    return w.transpose(-4, -3).transpose(-2, -1).flatten(-2).flatten(-3, -2)
