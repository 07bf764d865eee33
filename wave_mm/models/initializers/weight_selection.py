"""``WeightSelectionInit``: the Weight Selection baseline (Xu et al., ICLR
2024) for stock ViTs: a smaller ViT takes a subset of a larger pre-trained
ViT's weights.

Rule: layers ``0..L'-1``; along every dimension that shrinks, indices
``0, s, 2s, ...`` when the size divides, else ``round(linspace(0, n-1, n'))``;
q, k and v are selected separately; the position embedding keeps all tokens
(mmpretrain resizes them to the target grid); the head is dropped, unless
``head=True`` selects it too (for a target that keeps the ancestry's classes).
"""
from typing import Dict

import torch
from torch import Tensor, nn

from wave_mm.core import (ViTInitializer, find_vit, load_head,
                          mark_initialised, register_initializer)
from wave_mm.fileio import load_checkpoint, state_dict_of
from wave_mm.templates import HEAD_PREFIX


def select_indices(n: int, n_new: int) -> Tensor:
    """Indices keeping ``n_new`` of ``n`` entries, evenly spread."""
    if n_new > n:
        raise ValueError(f'cannot select {n_new} of {n} entries')
    if n % n_new == 0:
        return torch.arange(0, n, n // n_new)
    return torch.linspace(0, n - 1, n_new).round().long()


def select_tensor(source: Tensor,
                  shape: torch.Size,
                  name: str,
                  skip_dims: tuple = ()) -> Tensor:
    """Select ``source`` down to ``shape`` dimension by dimension."""
    if source.ndim != len(shape):
        raise ValueError(f'{name}: source {tuple(source.shape)} and target '
                         f'{tuple(shape)} have different ranks')
    out = source
    for dim, size in enumerate(shape):
        if dim in skip_dims or out.shape[dim] == size:
            continue
        if out.shape[dim] < size:
            raise ValueError(
                f'{name}: the ancestry has {out.shape[dim]} entries on dim '
                f'{dim}, the target needs {size}; Weight Selection needs a '
                'larger ancestry')
        out = out.index_select(dim, select_indices(out.shape[dim], size))
    return out


def select_state(source: Dict[str, Tensor],
                 target: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Weight-selected values for every target tensor found in ``source``."""
    out = {}
    for name, value in target.items():
        if name not in source:
            raise KeyError(f'{name} missing from the ancestry checkpoint')
        src = source[name]
        if '.attn.qkv.' in name:  # q, k and v rows, each selected alone
            parts = [
                select_tensor(chunk, (value.shape[0] // 3, ) + value.shape[1:],
                              name) for chunk in src.chunk(3, dim=0)
            ]
            out[name] = torch.cat(parts, dim=0)
        elif name == 'pos_embed':
            out[name] = select_tensor(src, value.shape, name, skip_dims=(1, ))
        else:
            out[name] = select_tensor(src, value.shape, name)
    return out


@register_initializer
class WeightSelectionInit(ViTInitializer):
    """Initialise a stock ViT by Weight Selection from a larger ViT.

    Args:
        checkpoint: Local checkpoint of the larger (ancestry) ViT.
        prefix: Key prefix of its backbone (``'backbone.'`` for
            mmpretrain classifier checkpoints, ``''`` for bare backbones).
        head: Also select the classifier head (``head.*`` of the
            checkpoint); needs the initializer on the whole classifier.
    """

    def __init__(self,
                 checkpoint: str,
                 prefix: str = 'backbone.',
                 head: bool = False,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.checkpoint, self.prefix, self.head = checkpoint, prefix, head

    def __call__(self, module: nn.Module) -> None:
        vit = find_vit(module)
        state = state_dict_of(
            load_checkpoint(self.checkpoint), self.checkpoint)
        source = {
            k[len(self.prefix):]: v
            for k, v in state.items() if k.startswith(self.prefix)
        }
        layers = {k.split('.')[1] for k in source if k.startswith('layers.')}
        own = vit.state_dict()
        if vit.num_layers > len(layers):
            raise ValueError(f'{self.checkpoint}: the ancestry has '
                             f'{len(layers)} layers, the target '
                             f'{vit.num_layers}')
        selected = select_state(source, own)
        # Resizes pos_embed tokens like a Pretrained load would.
        vit.load_state_dict(selected, strict=True)
        if self.head:
            target_head = getattr(module, 'head', None)
            if target_head is None:
                raise ValueError('WeightSelectionInit(head=True) must be '
                                 'placed on a classifier with a head')
            source_head = {
                k[len(HEAD_PREFIX):]: v
                for k, v in state.items() if k.startswith(HEAD_PREFIX)
            }
            load_head(module,
                      select_state(source_head, target_head.state_dict()),
                      self.checkpoint)
        mark_initialised(
            self, module, vit, f'WeightSelectionInit: {len(selected)} '
            f'tensors from {self.checkpoint}')

    def _get_init_info(self) -> str:
        return (f'{self.__class__.__name__}: checkpoint={self.checkpoint}, '
                f'head={self.head}')
