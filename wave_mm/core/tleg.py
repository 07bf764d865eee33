"""TLEG's rule, shared by its auxiliary (stage 1) and its initializer.

TLEG (Xia et al., AAAI 2024) builds layer ``l`` of ``L`` as
``θ_l = θ_A + (l/L)·θ_B``: in WAVE's terms, two full-size templates per
weight type and the fixed scalers ``[1, l/L]``.
"""
import torch
from torch import Tensor

#: Groups TLEG expands; the embeddings stay plain parameters (copied).
TLEG_GROUPS = ('attn', 'ffn', 'bias', 'norm')


def tleg_scalers(num_layers: int, grid_rank: int) -> Tensor:
    """TLEG's fixed scalers ``S[l] = [1, l/L]`` for ``l = 1..L``.

    Args:
        num_layers: Depth ``L``.
        grid_rank: 2 for matrix weights, 1 for vectors.

    Returns:
        ``[L, 2, *(1,) * grid_rank]`` scalers: template 0 is ``θ_A``,
        template 1 is ``θ_B``.
    """
    depth = torch.arange(1, num_layers + 1, dtype=torch.float32) / num_layers
    scalers = torch.stack([torch.ones_like(depth), depth], dim=1)
    return scalers.view(num_layers, 2, *(1, ) * grid_rank)
