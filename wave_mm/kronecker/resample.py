"""The data-free rules: scalers (and readers of the residual stream) of
one model size resampled to another, along depth and on the block grid.
"""
import math
from typing import Literal, Sequence

import torch
from torch import Tensor

from .blocks import (DEFAULT_ORDER, KronOrder, check_order, from_blocks,
                     to_blocks)

WidthRule = Literal['crop', 'mean', 'scaled']
DepthRule = Literal['first', 'interp']


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
                  rule: WidthRule = 'crop',
                  order: KronOrder = DEFAULT_ORDER,
                  chunks: int = 1) -> Tensor:
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
        order: ``'ST'`` or ``'TS'``.
        chunks: Parts of the weight (see :func:`grid_shape`); with
            ``'ST'`` each part's rows of the grid are resampled on their
            own (with ``'TS'`` the parts share the grid).

    Returns:
        ``[L, K, *grid]`` scalers.
    """
    if rule not in ('crop', 'mean', 'scaled'):
        raise ValueError(
            f"width rule must be 'crop', 'mean' or 'scaled', got {rule!r}")
    check_order(order)
    if order == 'ST' and chunks > 1:
        if scalers.shape[2] % chunks or grid[0] % chunks:
            raise ValueError(
                f'scalers {tuple(scalers.shape)} and grid {tuple(grid)} are '
                f'not of {chunks} parts')
        # [L, K, c*A, ...] -> [L, K*c, A, ...]: the parts as templates.
        parts = scalers.unflatten(2, (chunks, -1)).flatten(1, 2)
        out = resample_grid(parts, (grid[0] // chunks, *grid[1:]), rule)
        return out.unflatten(1, (-1, chunks)).flatten(2, 3)
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
                     rule: WidthRule = 'crop',
                     order: KronOrder = DEFAULT_ORDER,
                     chunks: int = 1) -> Tensor:
    """Data-free scalers for a new size: depth interpolation, grid resampling
    (:func:`resample_grid`).

    For the source's own depth and grid this is the identity.
    """
    return resample_grid(
        resample_depth(scalers, num_layers), grid, rule, order, chunks)


def resample_channels(weight: Tensor,
                      width: int,
                      block: int,
                      rule: WidthRule = 'crop',
                      order: KronOrder = DEFAULT_ORDER) -> Tensor:
    """Resample the last (residual-width) axis of a reader of the residual
    stream, e.g. a classifier head ``[C, D]``, to match the target's width.

    The target's channels are laid out as :func:`resample_grid` lays out its
    blocks (and as ``order`` places a block's channels): ``'crop'`` keeps
    the first blocks (repeating them cyclically when wider), ``'mean'``
    merges groups of blocks. Repeated channels share their source column
    (divided by the repeat count) and a merged channel gets the sum of its
    group's columns, so the output keeps its scale; ``'scaled'`` also
    scales cropped channels by :func:`width_scale`.

    Args:
        weight: ``[..., D]`` with ``D`` the source width.
        width: Target width ``D'``.
        block: Channels per template block along that axis.
        rule: ``'crop'``, ``'mean'`` or ``'scaled'`` (laid out as crop).
        order: ``'ST'`` (a block is ``block`` consecutive channels) or
            ``'TS'`` (every ``A``-th channel).

    Returns:
        ``[..., D']``.
    """
    src = weight.shape[-1]
    if width == src:
        return weight.clone()
    src_blocks, dst_blocks = math.ceil(src / block), math.ceil(width / block)
    # [N, A, b] -> [1, 1, A, b*N] as the scalers' grid axis.
    grouped = to_blocks(weight.reshape(-1, src), (block, ), order)
    grouped = grouped.permute(1, 2, 0).reshape(1, 1, src_blocks, -1)
    out = resample_grid(grouped, (dst_blocks, grouped.shape[-1]), rule)
    out = out.reshape(dst_blocks, block, -1).permute(2, 0, 1)
    out = from_blocks(out, (width, ), order)
    out = out.reshape(*weight.shape[:-1], width)
    if width > src or rule == 'scaled':
        return out * width_scale(src, width, block)
    if rule == 'mean':
        return out * (src_blocks / dst_blocks)
    return out
