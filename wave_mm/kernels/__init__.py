"""Fused GPU kernels of WAVE's Kronecker maths.

:func:`compose` and :func:`compose_all` are drop-ins for
:func:`wave_mm.kronecker.compose` that run matrix templates on CUDA through
Triton kernels (the op ``torch.ops.wave_mm.kron_compose``, one launch per
direction for any number of weight types) and everything else through the
pure torch path. Imports go one way: models -> kernels -> kronecker.
"""
from .compose_op import (FUSED_DTYPES, HAS_TRITON, compose, compose_all,
                         compute_dtype, use_fused)

__all__ = [
    'FUSED_DTYPES', 'HAS_TRITON', 'compose', 'compose_all', 'compute_dtype',
    'use_fused'
]
