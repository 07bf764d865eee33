"""The orthonormal DCT-II in pure torch (float64 matrices applied by
matmul), and resizing along one axis in its frequency domain, for
:mod:`~wave_mm.models.initializers.front_init`. Maths: it imports nothing
of wave_mm."""
import math
from functools import lru_cache

import torch
from torch import Tensor


@lru_cache(maxsize=32)
def dct_matrix(n: int) -> Tensor:
    """The orthonormal DCT-II matrix ``C`` (float64, ``[n, n]``, cached: do
    not modify): ``X = C x``, ``x = Cᵀ X``."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None]
    matrix = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2 / n)
    matrix[0] /= math.sqrt(2)
    return matrix


def dct(x: Tensor, dim: int = -1) -> Tensor:
    """Orthonormal DCT-II of ``x`` along ``dim``, in float64."""
    rows = x.double().movedim(dim, -1)
    matrix = dct_matrix(rows.shape[-1]).to(rows.device)
    return (rows @ matrix.T).movedim(-1, dim)


def idct(x: Tensor, dim: int = -1) -> Tensor:
    """Inverse of :func:`dct` along ``dim``, in float64."""
    rows = x.double().movedim(dim, -1)
    matrix = dct_matrix(rows.shape[-1]).to(rows.device)
    return (rows @ matrix).movedim(-1, dim)


def resize_spectrum(coef: Tensor,
                    dim: int,
                    size: int,
                    keep_ratio: float = 1.0) -> Tensor:
    """DCT coefficients ``coef`` at ``size`` along ``dim``: the first
    ``round(keep_ratio * min(n, size))`` (at least one) are kept, the rest
    is zero (a larger ``size`` is zero-padding)."""
    keep = max(1, round(keep_ratio * min(coef.shape[dim], size)))
    shape = list(coef.shape)
    shape[dim] = size
    out = coef.new_zeros(shape)
    out.narrow(dim, 0, keep).copy_(coef.narrow(dim, 0, keep))
    return out


def spectral_resize(x: Tensor,
                    dim: int,
                    size: int,
                    keep_ratio: float = 1.0) -> Tensor:
    """``x`` low-pass resized to ``size`` along ``dim`` (float64): DCT,
    :func:`resize_spectrum`, inverse DCT."""
    return idct(resize_spectrum(dct(x, dim), dim, size, keep_ratio), dim)
