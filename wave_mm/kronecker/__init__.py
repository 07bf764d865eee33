"""Kronecker maths of WAVE: templates and scalers to weights, and back.

Pure torch, no OpenMMLab imports: both stages (template distillation and
scaler fitting) and every initializer call these functions, and nothing else
re-derives block grids, orders or crops.

Shapes, for one weight type of a model with ``L`` layers and ``K`` templates:

- matrix templates ``T`` are ``[K, o, i]``; scalers ``S`` are ``[L, K, A, B]``
  and ``W[l] = sum_k S[l, k] ⊗ T[k]`` is ``[L, A*o, B*i]`` (the order
  ``'ST'``: block ``(a, b)`` of ``W`` is ``sum_k S[l, k, a, b] T[k]``,
  ``W[a*o + p, b*i + q]``), or ``W[l] = sum_k T[k] ⊗ S[l, k]`` (the order
  ``'TS'``: ``W[p*A + a, q*B + b] = sum_k T[k, p, q] S[l, k, a, b]``, each
  template entry stretched over an ``A x B`` patch of scalers);
- vector templates ``T`` are ``[K, t]``; scalers ``S`` are ``[L, K, A]`` and
  ``W[l][a*t + p] = sum_k S[l, k, a] T[k, p]`` (``'ST'``) or
  ``W[l][p*A + a]`` (``'TS'``).

For one grid the two orders differ by fixed permutations of rows and
columns; across sizes (crops, the data-free rules on the scaler grid) they
are different families.

A target dimension that is not a multiple of the block is built at the next
multiple and cropped to its top-left part. A weight of ``chunks`` stacked
parts (mmpretrain's fused ``qkv``: q, k and v along the rows) is the Kronecker
product of a factor whose rows are in ``chunks`` parts, the scalers' grid
(``'ST'``, so that no block straddles two parts) or the templates (``'TS'``);
each part is built, cropped and resampled on its own, never mixing rows of
two parts.
"""
from .blocks import (DEFAULT_ORDER, KRON_ORDERS, KronOrder, check_order,
                     compose, from_blocks, grid_shape, join_rows, split_rows,
                     split_scalers, st_as_ts, to_blocks)
from .resample import (DepthRule, WidthRule, resample_channels, resample_depth,
                       resample_grid, resample_scalers, width_scale)

__all__ = [
    'DEFAULT_ORDER', 'DepthRule', 'KRON_ORDERS', 'KronOrder', 'WidthRule',
    'check_order', 'compose', 'from_blocks', 'grid_shape', 'join_rows',
    'resample_channels', 'resample_depth', 'resample_grid', 'resample_scalers',
    'split_rows', 'split_scalers', 'st_as_ts', 'to_blocks', 'width_scale'
]
