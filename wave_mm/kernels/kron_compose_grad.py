"""Triton kernels of the gradients of the fused Kronecker compose.

For the upstream gradient ``dW`` of :mod:`wave_mm.kernels.kron_compose`'s
weights, ``dS[m, k] = sum_(r, c) dW[m, (r, c)] T[k, r, c]`` and ``dT[k, (r,
c)] = sum_m S[m, k] dW[m, (r, c)]`` are ``tl.dot`` reductions over tiles of
``dW`` read in its final layout (places past the crop count as zero). Each
reduction is cut into splits that write fp32 partials; one more launch sums
them in a fixed order (deterministic, no atomics) into the inputs' dtype.
"""
from typing import Sequence

import torch
import triton
import triton.language as tl
from torch import Tensor

from .kron_compose import (Dims, cdiv, dot_args, entry_dims, num_sms,
                           program_starts, row_tile, scaler_offsets,
                           tile_offsets)

# Tiles and warps, picked from a small sweep on an H100 (ViT-B shapes).
GRAD_SCALERS = dict(BLOCK_M=128, BLOCK_N=64, num_warps=4)
GRAD_TEMPLATES = dict(BLOCK_M=128, BLOCK_N=64, num_warps=4)
REDUCE = dict(BLOCK=1024, num_warps=4)
# Split reductions until about this many programs per multiprocessor.
PROGRAMS_PER_SM = 4


@triton.jit
def _grad_scalers_tile(dw_ptr, t_ptr, part_ptr, tile, dims, chunk,
                       BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                       BLOCK_K: tl.constexpr, PRECISION: tl.constexpr,
                       ACC: tl.constexpr):
    """Partial ``dS[m, k] = sum_(r, c) dW[m, (r, c)] T[k, r, c]`` over the
    ``chunk`` row tiles of one split."""
    G, L, K, A, B, o, i, OUT, IN = dims
    M, N = L * A * B, o * i
    tiles_m, num_k = tl.cdiv(M, BLOCK_M), tl.cdiv(K, BLOCK_K)
    m = (tile % tiles_m) * BLOCK_M + tl.arange(0, BLOCK_M)
    k = (tile // tiles_m) % num_k * BLOCK_K + tl.arange(0, BLOCK_K)
    g = (tile // (tiles_m * num_k) % G).to(tl.int64)
    split = tile // (tiles_m * num_k * G)
    dw_ptr += g * L * OUT * IN
    t_ptr += g * K * N
    acc = tl.zeros((BLOCK_M, BLOCK_K), ACC)
    rows = o * tl.cdiv(i, BLOCK_N)
    for t in range(split * chunk, tl.minimum(split * chunk + chunk, rows)):
        r, c = row_tile(t, i, BLOCK_N)
        offsets, mask = tile_offsets(m, r, c, M, A, B, o, i, OUT, IN)
        dw = tl.load(dw_ptr + offsets, mask=mask, other=0.)
        tmpl = tl.load(
            t_ptr + r * i + k[None, :] * N + c[:, None],
            mask=(k < K)[None, :] & (c < i)[:, None],
            other=0.)
        acc = tl.dot(dw, tmpl, acc, input_precision=PRECISION, out_dtype=ACC)
    # This split's partial dS of the entry, in the layout of S.
    tl.store(
        part_ptr + g * M * K + scaler_offsets(m, k, K, A, B),
        acc,
        mask=(m < M)[:, None] & (k < K)[None, :])


@triton.jit
def _grad_templates_tile(dw_ptr, s_ptr, part_ptr, tile, dims, chunk,
                         BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                         BLOCK_K: tl.constexpr, PRECISION: tl.constexpr,
                         ACC: tl.constexpr):
    """Partial ``dT[k, (r, c)] = sum_m S[m, k] dW[m, (r, c)]`` over the
    ``chunk`` blocks of one split."""
    G, L, K, A, B, o, i, OUT, IN = dims
    M, N = L * A * B, o * i
    tiles_n, num_k = o * tl.cdiv(i, BLOCK_N), tl.cdiv(K, BLOCK_K)
    r, c = row_tile(tile % tiles_n, i, BLOCK_N)
    k = (tile // tiles_n) % num_k * BLOCK_K + tl.arange(0, BLOCK_K)
    g = (tile // (tiles_n * num_k) % G).to(tl.int64)
    split = tile // (tiles_n * num_k * G)
    dw_ptr += g * L * OUT * IN
    s_ptr += g * M * K
    acc = tl.zeros((BLOCK_K, BLOCK_N), ACC)
    for m0 in range(split * chunk, split * chunk + chunk, BLOCK_M):
        m = m0 + tl.arange(0, BLOCK_M)
        s = tl.load(
            s_ptr + tl.trans(scaler_offsets(m, k, K, A, B)),
            mask=(m < M)[None, :] & (k < K)[:, None],
            other=0.)
        offsets, mask = tile_offsets(m, r, c, M, A, B, o, i, OUT, IN)
        dw = tl.load(dw_ptr + offsets, mask=mask, other=0.)
        acc = tl.dot(s, dw, acc, input_precision=PRECISION, out_dtype=ACC)
    # This split's partial dT of the entry, in the layout of T.
    tl.store(
        part_ptr + g * K * N + r * i + k[:, None] * N + c[None, :],
        acc,
        mask=(k < K)[:, None] & (c < i)[None, :])


@triton.jit
def _grad_kernel(dw_ptrs, x_ptrs, part_ptr, dims, starts, chunks, offsets,
                 total, SCALERS: tl.constexpr, NUM: tl.constexpr,
                 BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                 BLOCK_K: tl.constexpr, PRECISION: tl.constexpr,
                 ACC: tl.constexpr):
    """Partial ``dS`` (``x`` = templates) or ``dT`` (``x`` = scalers) of
    ``NUM`` entries into ``part[split, offsets[j]:]``, rows of ``total``."""
    pid = tl.program_id(0)
    for j in tl.static_range(NUM):
        if (pid >= starts[j]) & (pid < starts[j + 1]):
            tile = pid - starts[j]
            if SCALERS:
                tiles = tl.cdiv(dims[j][1] * dims[j][3] * dims[j][4], BLOCK_M)
            else:
                tiles = dims[j][5] * tl.cdiv(dims[j][6], BLOCK_N)
            tiles *= tl.cdiv(dims[j][2], BLOCK_K) * dims[j][0]
            part = part_ptr + (tile // tiles).to(tl.int64) * total
            part += offsets[j]
            if SCALERS:
                _grad_scalers_tile(dw_ptrs[j], x_ptrs[j], part, tile, dims[j],
                                   chunks[j], BLOCK_M, BLOCK_N, BLOCK_K,
                                   PRECISION, ACC)
            else:
                _grad_templates_tile(dw_ptrs[j], x_ptrs[j], part, tile,
                                     dims[j], chunks[j], BLOCK_M, BLOCK_N,
                                     BLOCK_K, PRECISION, ACC)


@triton.jit
def _reduce_kernel(ps_ptr, pt_ptr, out_ptr, total_s, total_t, splits_s,
                   splits_t, BLOCK: tl.constexpr):
    """``out = [sum_split part_s, sum_split part_t]`` in ``out``'s dtype."""
    e = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    acc = tl.zeros((BLOCK, ), ps_ptr.dtype.element_ty)
    # Programs past dS (or before dT) skip its loop.
    start = tl.program_id(0) * BLOCK
    for s in range(0, tl.where(start < total_s, splits_s, 0)):
        acc += tl.load(ps_ptr + s * total_s + e, mask=e < total_s, other=0.)
    et = e - total_s
    for s in range(0, tl.where(start + BLOCK > total_s, splits_t, 0)):
        acc += tl.load(
            pt_ptr + s * total_t + et,
            mask=(et >= 0) & (et < total_t),
            other=0.)
    tl.store(
        out_ptr + e,
        acc.to(out_ptr.dtype.element_ty),
        mask=e < total_s + total_t)


def _grad_launch(grads: Sequence[Tensor], others: Sequence[Tensor],
                 dims: Sequence[Dims], scalers_side: bool,
                 acc: torch.dtype) -> Tensor:
    """Partial ``dS`` (``others`` = templates) or ``dT`` (``others`` =
    scalers) of every entry, ``[splits, total numel]`` in ``acc``."""
    cfg = dict(GRAD_SCALERS if scalers_side else GRAD_TEMPLATES,
               **dot_args(grads[0].dtype, max(d[2] for d in dims)))
    bm, bn, bk = cfg['BLOCK_M'], cfg['BLOCK_N'], cfg['BLOCK_K']
    reduced, tiles, sizes = [], [], []
    for G, L, K, A, B, o, i, _, _ in dims:
        row_tiles, block_tiles = o * cdiv(i, bn), cdiv(L * A * B, bm)
        # dS reduces over row tiles, dT over block tiles; tiles of the rest.
        reduced.append(row_tiles if scalers_side else block_tiles)
        rest = block_tiles if scalers_side else row_tiles
        tiles.append(G * cdiv(K, bk) * rest)
        sizes.append(G * (L * K * A * B if scalers_side else K * o * i))
    want = PROGRAMS_PER_SM * num_sms(grads[0].device)
    splits = max(1, min(cdiv(want, max(sum(tiles), 1)), max(reduced)))
    # Chunks in row tiles (dS) or blocks (dT), as the kernels count them.
    step = 1 if scalers_side else bm
    chunks = tuple(cdiv(n, splits) * step for n in reduced)
    part = grads[0].new_empty(splits, sum(sizes), dtype=acc)
    starts = program_starts([n * splits for n in tiles])
    if starts[-1]:
        _grad_kernel[(starts[-1], )](tuple(grads), tuple(others), part,
                                     tuple(dims), starts, chunks,
                                     program_starts(sizes)[:-1], sum(sizes),
                                     scalers_side, len(dims), **cfg)
    return part


def compose_backward(grads: Sequence[Tensor], scalers: Sequence[Tensor],
                     templates: Sequence[Tensor]) -> Tensor:
    """Gradients of :func:`~wave_mm.kernels.kron_compose.compose_forward`
    for the upstream ``[*batch, L, OUT, IN]`` gradients (contiguous, the
    inputs' dtype): every entry's ``dS``, then every entry's ``dT``,
    flattened into one tensor."""
    dims = [
        entry_dims(s, t, g.shape[-2:])
        for g, s, t in zip(grads, scalers, templates)
    ]
    dtype = scalers[0].dtype
    acc = torch.float64 if dtype == torch.float64 else torch.float32
    part_s = _grad_launch(grads, templates, dims, True, acc)
    part_t = _grad_launch(grads, scalers, dims, False, acc)
    (splits_s, total_s), (splits_t, total_t) = part_s.shape, part_t.shape
    out = part_s.new_empty(total_s + total_t, dtype=dtype)
    grid = (cdiv(out.numel(), REDUCE['BLOCK']), )
    if grid[0]:
        # A fixed-order sum of the partials: deterministic, no atomics.
        _reduce_kernel[grid](part_s, part_t, out, total_s, total_t, splits_s,
                             splits_t, **REDUCE)
    return out
