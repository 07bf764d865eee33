"""Triton kernels of the fused Kronecker compose of matrix templates.

For one weight type, ``W[g, l] = sum_k S[g, l, k] ⊗ T[g, k]`` is the GEMM
``[M, K] @ [K, N]`` over the ``M = L*A*B`` blocks ``m = (l, a, b)`` and the
``N = o*i`` places ``(r, c)`` inside a block. The kernels run it and its
gradients ``dS = dW @ T^T`` and ``dT = S^T @ dW`` reading and writing
``W``/``dW`` in their final ``[G, L, OUT, IN]`` layout: ``(m, (r, c))`` is
``W[g, l, a*o + r, b*i + c]``, and places past the crop ``(OUT, IN)`` are
neither stored nor read (they count as zero). A tile is ``BLOCK_M`` blocks by
``BLOCK_N`` columns of one block row, contiguous in ``W``. One launch serves
a list of entries (weight types of any shapes), numbered entry by entry.

This module holds the forward and what the gradients share;
:mod:`wave_mm.kernels.kron_compose_grad` the gradients. Importing either
needs triton; :mod:`wave_mm.kernels.compose_op` makes their launchers a torch
op. Accumulation is fp32 (fp64 for fp64).
"""
import functools
import itertools
import math
from typing import List, Sequence, Tuple

import torch
import triton
import triton.language as tl
from torch import Tensor

# Tiles and warps, picked from a small sweep on an H100 (ViT-B shapes).
FORWARD = dict(BLOCK_M=128, BLOCK_N=64, num_warps=4)
# tf32x3 keeps fp32 accuracy (about 1e-6) on the tensor cores.
FP32_PRECISION = 'tf32x3'
Dims = Tuple[int, int, int, int, int, int, int, int, int]


@triton.jit
def tile_offsets(m, r, c, M, A, B, o, i, OUT, IN):
    """Offsets into ``[L, OUT, IN]`` weights of row ``r``, columns ``c`` of
    blocks ``m``, and the mask of those inside the crop."""
    layer, ab = m // (A * B), m % (A * B)
    row = (ab // B) * o + r
    col = (ab % B) * i
    # Contiguous along c, so that loads and stores vectorise.
    offsets = (layer.to(tl.int64) * OUT * IN + row * IN +
               col)[:, None] + c[None, :]
    mask = ((m < M) & (row < OUT))[:, None] & (c < i)[None, :]
    return offsets, mask & ((col[:, None] + c[None, :]) < IN)


@triton.jit
def row_tile(t, i, BLOCK_N: tl.constexpr):
    """Row ``r`` and columns ``c`` of row tile ``t`` (a block row is cut
    into ``cdiv(i, BLOCK_N)`` tiles)."""
    per_row = tl.cdiv(i, BLOCK_N)
    return t // per_row, (t % per_row) * BLOCK_N + tl.arange(0, BLOCK_N)


@triton.jit
def scaler_offsets(m, k, K, A, B):
    """``[len(m), len(k)]`` offsets of ``S[l, k, a, b]``, ``m = (l, a, b)``."""
    row = (m // (A * B)) * K * A * B + m % (A * B)
    return row[:, None] + k[None, :] * A * B


@triton.jit
def _compose_tile(s_ptr, t_ptr, w_ptr, tile, dims, BLOCK_M: tl.constexpr,
                  BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                  PRECISION: tl.constexpr, ACC: tl.constexpr):
    """``W[m, (r, c)] = sum_k S[m, k] T[k, r, c]`` for one tile."""
    G, L, K, A, B, o, i, OUT, IN = dims
    M, N = L * A * B, o * i
    tiles_m, tiles_n = tl.cdiv(M, BLOCK_M), o * tl.cdiv(i, BLOCK_N)
    # Blocks vary fastest: neighbouring programs share the T tile in L2.
    m = (tile % tiles_m) * BLOCK_M + tl.arange(0, BLOCK_M)
    r, c = row_tile((tile // tiles_m) % tiles_n, i, BLOCK_N)
    g = (tile // (tiles_m * tiles_n)).to(tl.int64)
    acc = tl.zeros((BLOCK_M, BLOCK_N), ACC)
    for k0 in range(0, K, BLOCK_K):
        k = k0 + tl.arange(0, BLOCK_K)
        s = tl.load(
            s_ptr + g * M * K + scaler_offsets(m, k, K, A, B),
            mask=(m < M)[:, None] & (k < K)[None, :],
            other=0.)
        t = tl.load(
            t_ptr + g * K * N + r * i + k[:, None] * N + c[None, :],
            mask=(k < K)[:, None] & (c < i)[None, :],
            other=0.)
        acc = tl.dot(s, t, acc, input_precision=PRECISION, out_dtype=ACC)
    offsets, mask = tile_offsets(m, r, c, M, A, B, o, i, OUT, IN)
    w_ptr += g * L * OUT * IN
    tl.store(w_ptr + offsets, acc.to(w_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _compose_kernel(s_ptrs, t_ptrs, w_ptrs, dims, starts, NUM: tl.constexpr,
                    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                    BLOCK_K: tl.constexpr, PRECISION: tl.constexpr,
                    ACC: tl.constexpr):
    """Forward of ``NUM`` entries; entry ``j`` owns programs
    ``starts[j]:starts[j + 1]``."""
    pid = tl.program_id(0)
    for j in tl.static_range(NUM):
        if (pid >= starts[j]) & (pid < starts[j + 1]):
            _compose_tile(s_ptrs[j], t_ptrs[j], w_ptrs[j], pid - starts[j],
                          dims[j], BLOCK_M, BLOCK_N, BLOCK_K, PRECISION, ACC)


def cdiv(a: int, b: int) -> int:
    """``ceil(a / b)``; ``triton.cdiv`` costs microseconds per host call."""
    return -(-a // b)


@functools.lru_cache(maxsize=None)
def num_sms(device: torch.device) -> int:
    """Multiprocessors of a CUDA device; a nominal 4 for the interpreter."""
    if device.type != 'cuda':
        return 4
    return torch.cuda.get_device_properties(device).multi_processor_count


def dot_args(dtype: torch.dtype, num_templates: int) -> dict:
    """Precision, accumulator and K tile of ``tl.dot`` for ``dtype``."""
    precision = FP32_PRECISION if dtype == torch.float32 else 'ieee'
    acc = tl.float64 if dtype == torch.float64 else tl.float32
    # tl.dot needs K >= 16; templates past K are masked to zero.
    block_k = min(max(1 << (num_templates - 1).bit_length(), 16), 64)
    return dict(PRECISION=precision, ACC=acc, BLOCK_K=block_k)


def program_starts(counts: Sequence[int]) -> Tuple[int, ...]:
    """First program of each entry, then the total, from program counts."""
    return tuple(itertools.accumulate(counts, initial=0))


def entry_dims(scalers: Tensor, templates: Tensor,
               shape: Sequence[int]) -> Dims:
    """``(G, L, K, A, B, o, i, OUT, IN)`` of ``[*batch, L, K, A, B]``
    scalers and ``[*batch, K, o, i]`` templates composed to ``[*batch, L,
    OUT, IN]``, with ``G = prod(batch)``."""
    return (math.prod(scalers.shape[:-4]), *scalers.shape[-4:],
            *templates.shape[-2:], *shape)


def compose_forward(scalers: Sequence[Tensor], templates: Sequence[Tensor],
                    shapes: Sequence[Sequence[int]]) -> List[Tensor]:
    """``[*batch, L, OUT, IN]`` weights per entry of contiguous ``[*batch,
    L, K, A, B]`` scalers and ``[*batch, K, o, i]`` templates (one dtype for
    all), cropped to ``shapes``, in one launch."""
    dims = [
        entry_dims(s, t, sh) for s, t, sh in zip(scalers, templates, shapes)
    ]
    weights = [
        s.new_empty(*s.shape[:-3], *sh) for s, sh in zip(scalers, shapes)
    ]
    cfg = dict(FORWARD, **dot_args(scalers[0].dtype, max(d[2] for d in dims)))
    bm, bn = cfg['BLOCK_M'], cfg['BLOCK_N']
    starts = program_starts([
        G * cdiv(L * A * B, bm) * o * cdiv(i, bn)
        for G, L, K, A, B, o, i, OUT, IN in dims
    ])
    if starts[-1]:
        _compose_kernel[(starts[-1], )](tuple(scalers), tuple(templates),
                                        tuple(weights), tuple(dims), starts,
                                        len(dims), **cfg)
    return weights
