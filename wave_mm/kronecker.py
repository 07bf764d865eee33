"""Kronecker maths of WAVE: templates and scalers to weights, and back.

Pure torch, no OpenMMLab imports: both stages (template distillation and
scaler fitting) and every initializer call these functions, and nothing else
re-derives block grids or crops.

Shapes, for one weight type of a model with ``L`` layers and ``K`` templates:

- matrix templates ``T`` are ``[K, o, i]``; scalers ``S`` are ``[L, K, A, B]``
  and ``W[l] = sum_k S[l, k] ⊗ T[k]`` is ``[L, A*o, B*i]``;
- vector templates ``T`` are ``[K, t]``; scalers ``S`` are ``[L, K, A]`` and
  ``W[l]`` is the concatenation over ``a`` of ``sum_k S[l, k, a] * T[k]``.

A target dimension that is not a multiple of the block is built at the next
multiple and cropped to its top-left part.
"""
import math
from typing import Literal, Sequence, Tuple

import torch
from torch import Tensor

WidthRule = Literal['crop', 'mean', 'scaled']
DepthRule = Literal['first', 'interp']


def grid_shape(shape: Sequence[int], block: Sequence[int]) -> Tuple[int, ...]:
    """Number of template blocks along each axis needed to cover ``shape``.

    Args:
        shape: The target weight shape, e.g. ``(out, in)`` or ``(length,)``.
        block: The template shape, of the same length as ``shape``.

    Returns:
        ``ceil(shape / block)`` per axis.
    """
    if len(shape) != len(block):
        raise ValueError(f'shape {tuple(shape)} and template block '
                         f'{tuple(block)} have different ranks')
    return tuple(math.ceil(n / b) for n, b in zip(shape, block))


def compose(scalers: Tensor, templates: Tensor,
            shape: Sequence[int]) -> Tensor:
    """Build the weights of all layers of one type: ``sum_k S ⊗ T``.

    One contraction (a single, possibly batched, GEMM) for all layers,
    blocks and templates; the result is cropped to ``shape`` where ``shape``
    is not a multiple of the block.

    Args:
        scalers: ``[*batch, L, K, *grid]`` with ``len(grid) ==`` the block
            rank; leading ``batch`` dims compose several types at once.
        templates: ``[*batch, K, *block]``, 1-D (vectors) or 2-D (matrices)
            blocks.
        shape: The per-layer weight shape, at most ``grid * block``.

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
    if any(n > g * b for n, g, b in zip(shape, grid, block)):
        raise ValueError(f'shape {tuple(shape)} exceeds the grid '
                         f'{tuple(grid)} of {tuple(block)} blocks')
    # [*, L*grid, K] @ [*, K, block] is one GEMM; the permute then lays the
    # blocks out as the grid.
    flat = scalers.movedim(-rank - 1, -1).reshape(*batch, -1, num_templates)
    blocks = flat @ templates.reshape(*batch, num_templates, -1)
    if rank == 1:
        weights = blocks.reshape(*batch, num_layers, grid[0] * block[0])
        return weights[..., :shape[0]]
    blocks = blocks.view(*batch, num_layers, grid[0], grid[1], *block)
    weights = blocks.transpose(-3, -2).reshape(*batch, num_layers,
                                               grid[0] * block[0],
                                               grid[1] * block[1])
    return weights[..., :shape[0], :shape[1]]


def resample_depth(scalers: Tensor, num_layers: int) -> Tensor:
    """Resample per-layer scalers to ``num_layers`` by linear interpolation.

    Layer ``j`` of the target sits at relative position ``j / (L' - 1)`` of
    the source's ``L`` layers; equal depths give the scalers unchanged.

    Args:
        scalers: ``[L, ...]`` scalers of the source model.
        num_layers: Target depth ``L'``.

    Returns:
        ``[L', ...]`` scalers.
    """
    src = scalers.shape[0]
    if num_layers < 1:
        raise ValueError(f'num_layers must be >= 1, got {num_layers}')
    if num_layers == src:
        return scalers.clone()
    if src == 1 or num_layers == 1:
        pos = torch.zeros(num_layers, dtype=torch.float64)
    else:
        pos = torch.linspace(0, src - 1, num_layers, dtype=torch.float64)
    lo = pos.floor().long().clamp(max=src - 1)
    hi = (lo + 1).clamp(max=src - 1)
    frac = (pos - lo).to(scalers.dtype).view(-1, *[1] * (scalers.ndim - 1))
    return scalers[lo] * (1 - frac) + scalers[hi] * frac


def resample_grid(scalers: Tensor,
                  grid: Sequence[int],
                  rule: WidthRule = 'crop') -> Tensor:
    """Resample the block grid of scalers ``[L, K, *grid]`` to a new grid.

    ``'crop'`` keeps the top-left blocks (the same residual channels in every
    layer); ``'mean'`` fills each target block with the mean over the source
    blocks that map onto it. Where the target grid is larger than the source,
    both rules repeat the source blocks cyclically. ``'scaled'`` lays blocks
    out as ``'crop'``; its rescaling is :func:`width_scale`'s.

    Args:
        scalers: ``[L, K, *grid_src]``.
        grid: Target grid, one entry per block axis.
        rule: ``'crop'``, ``'mean'`` or ``'scaled'`` (laid out as crop).

    Returns:
        ``[L, K, *grid]`` scalers.
    """
    if rule not in ('crop', 'mean', 'scaled'):
        raise ValueError(
            f"width rule must be 'crop', 'mean' or 'scaled', got {rule!r}")
    out = scalers
    for axis, size in enumerate(grid, start=2):
        src = out.shape[axis]
        if size == src:
            continue
        if size > src or rule != 'mean':
            index = torch.arange(size, device=out.device) % src
            out = out.index_select(axis, index)
        else:
            # Source blocks split into ``size`` contiguous groups.
            bounds = torch.linspace(0, src, size + 1).round().long().tolist()
            parts = [
                out.narrow(axis, a, max(b - a, 1)).mean(axis, keepdim=True)
                for a, b in zip(bounds[:-1], bounds[1:])
            ]
            out = torch.cat(parts, dim=axis)
    return out.clone() if out is scalers else out


def width_scale(n_src: int, n_tgt: int, block: int) -> float:
    """Factor of the ``'scaled'`` width rule on a weight that reads
    ``n_tgt`` input channels laid out from ``n_src`` in blocks of ``block``.

    Wider (channels repeated): ``n_src / n_tgt``, which keeps the function
    exactly for whole repeats. Narrower: the whole blocks left out are not
    compensated (the auxiliary's blocks are not interchangeable), the
    channels cropped inside the last block are: ``ceil(n_tgt / block) *
    block / n_tgt``. Chosen on the quickstart auxiliary against plain
    ``n_src / n_tgt`` and its square root (see ``docs/defaults.md``).
    """
    if n_tgt >= n_src:
        return n_src / n_tgt
    return math.ceil(n_tgt / block) * block / n_tgt


def resample_scalers(scalers: Tensor,
                     num_layers: int,
                     grid: Sequence[int],
                     rule: WidthRule = 'crop') -> Tensor:
    """Data-free scalers for a new size: depth interpolation, grid resampling.

    For the source's own depth and grid this is the identity.
    """
    return resample_grid(resample_depth(scalers, num_layers), grid, rule)


def resample_channels(weight: Tensor,
                      width: int,
                      block: int,
                      rule: WidthRule = 'crop') -> Tensor:
    """Resample the last (residual-width) axis of a reader of the residual
    stream, e.g. a classifier head ``[C, D]``, to match the target's width.

    The target's channels are laid out as :func:`resample_grid` lays out its
    blocks: ``'crop'`` keeps the first blocks (repeating them cyclically when
    wider), ``'mean'`` merges groups of blocks. Repeated channels share their
    source column (divided by the repeat count) and a merged channel gets the
    sum of its group's columns, so the output keeps its scale; ``'scaled'``
    also scales cropped channels by :func:`width_scale`.

    Args:
        weight: ``[..., D]`` with ``D`` the source width.
        width: Target width ``D'``.
        block: Channels per template block along that axis.
        rule: ``'crop'``, ``'mean'`` or ``'scaled'`` (laid out as crop).

    Returns:
        ``[..., D']``.
    """
    src = weight.shape[-1]
    if width == src:
        return weight.clone()
    src_blocks, dst_blocks = math.ceil(src / block), math.ceil(width / block)
    padded = torch.nn.functional.pad(weight, (0, src_blocks * block - src))
    # [..., A, b] -> [1, 1, A, b*...] as the scalers' grid axis.
    grouped = padded.reshape(-1, src_blocks, block).permute(1, 0, 2)
    grouped = grouped.reshape(1, 1, src_blocks, -1)
    out = resample_grid(grouped, (dst_blocks, grouped.shape[-1]), rule)
    out = out.reshape(dst_blocks, -1, block).permute(1, 0, 2)
    out = out.reshape(*weight.shape[:-1], dst_blocks * block)[..., :width]
    if width > src or rule == 'scaled':
        return out * width_scale(src, width, block)
    if rule == 'mean':
        return out * (src_blocks / dst_blocks)
    return out
