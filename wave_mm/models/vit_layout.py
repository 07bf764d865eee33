"""Which tensor of an mmpretrain ``VisionTransformer`` each weight type is.

WAVE templates are kept per *weight type* (``'q'``, ``'fc1'``, ...), in PyTorch
``out x in`` orientation, q, k and v apart although mmpretrain fuses them in
one ``qkv`` Linear. :class:`ViTLayout` maps the composed ``[L, *shape]``
weights of a :class:`~wave_mm.models.TemplateBank` onto the state-dict names of
a stock ViT, so one layout serves the ``WaveTemplate`` backbone (stage 1),
``WaveInit`` and the ``ScalerInitHook`` (stage 2).
"""
import math
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import torch
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed
from torch import Tensor

from wave_mm.templates import TemplateSpec, ViTArch

#: Parameter groups that can be templated, and the weight types in each.
GROUPS: Dict[str, Tuple[str, ...]] = {
    'attn': ('q', 'k', 'v', 'proj'),
    'ffn': ('fc1', 'fc2'),
    'bias':
    ('q_bias', 'k_bias', 'v_bias', 'proj_bias', 'fc1_bias', 'fc2_bias'),
    'norm': ('ln1_weight', 'ln1_bias', 'ln2_weight', 'ln2_bias', 'norm_weight',
             'norm_bias'),
    'embed': ('patch_embed', 'patch_embed_bias', 'pos_embed', 'cls_token'),
}
ALL_GROUPS: Tuple[str, ...] = tuple(GROUPS)

_ONES = ('ln1_weight', 'ln2_weight', 'norm_weight')
_ZEROS = ('cls_token', ) + GROUPS['bias'] + ('ln1_bias', 'ln2_bias',
                                             'norm_bias', 'patch_embed_bias')
# Parameter (suffix per layer, or name) -> the weight types it is made of,
# concatenated along the output rows (mmpretrain fuses q, k and v).
_LAYER_PARAMS: Dict[str, Tuple[str, ...]] = {
    'attn.qkv.weight': ('q', 'k', 'v'),
    'attn.proj.weight': ('proj', ),
    'ffn.layers.0.0.weight': ('fc1', ),
    'ffn.layers.1.weight': ('fc2', ),
    'attn.qkv.bias': ('q_bias', 'k_bias', 'v_bias'),
    'attn.proj.bias': ('proj_bias', ),
    'ffn.layers.0.0.bias': ('fc1_bias', ),
    'ffn.layers.1.bias': ('fc2_bias', ),
    'ln1.weight': ('ln1_weight', ),
    'ln1.bias': ('ln1_bias', ),
    'ln2.weight': ('ln2_weight', ),
    'ln2.bias': ('ln2_bias', ),
}
_MODEL_PARAMS: Dict[str, Tuple[str, ...]] = {
    'patch_embed.projection.weight': ('patch_embed', ),
    'patch_embed.projection.bias': ('patch_embed_bias', ),
    'pos_embed': ('pos_embed', ),
    'cls_token': ('cls_token', ),
    'ln1.weight': ('norm_weight', ),
    'ln1.bias': ('norm_bias', ),
}


def input_width(name: str, arch: Mapping[str, object]) -> Optional[int]:
    """Input features of a matrix type in a ViT of ``arch`` (a
    :meth:`ViTArch.as_dict`), ``None`` for types that read no features."""
    if name == 'fc2':
        return int(arch['feedforward_channels'])
    if name in GROUPS['attn'] or name == 'fc1':
        return int(arch['embed_dims'])
    return None


def default_specs(arch: ViTArch, types: Iterable[str], template_width: int,
                  ffn_ratio: int,
                  num_templates: int) -> Dict[str, TemplateSpec]:
    """Template specs for a model that learns its own templates.

    Base-width templates (``template_width=192`` for the DeiT family) or
    head-sized blocks (``template_width=64, ffn_ratio=1``); every matrix,
    vector and embedding is cut along its width axes into such blocks.
    """
    d0, f0 = template_width, ffn_ratio * template_width
    patch = arch.in_channels * arch.patch_size**2
    blocks = {
        'q': (d0, d0),
        'k': (d0, d0),
        'v': (d0, d0),
        'proj': (d0, d0),
        'fc1': (f0, d0),
        'fc2': (d0, f0),
        'fc1_bias': (f0, ),
        'patch_embed': (d0, patch),
        'pos_embed': (arch.num_tokens, d0),
    }
    specs = {}
    for name in types:
        init = ('ones'
                if name in _ONES else 'zeros' if name in _ZEROS else 'normal')
        specs[name] = TemplateSpec(
            blocks.get(name, (d0, )), num_templates, init)
    return specs


class ViTLayout:
    """Mapping between weight types and one ViT's state-dict entries.

    Args:
        vit: The ``VisionTransformer`` (or subclass) whose tensors are meant.
        groups: Parameter groups (keys of :data:`GROUPS`) to template.
        available: Weight types there are templates for; a parameter made
            of others is left out (``None``: every type of ``groups``).

    Weight types whose tensor the model lacks (no qkv bias, no final norm,
    no class token) are left out.
    """

    def __init__(self,
                 vit: VisionTransformer,
                 groups: Sequence[str] = ALL_GROUPS,
                 available: Optional[Iterable[str]] = None) -> None:
        unknown = set(groups) - set(GROUPS)
        if unknown:
            raise ValueError(f'unknown template groups {sorted(unknown)}; '
                             f'choose from {list(GROUPS)}')
        self.arch = ViTArch.from_vit(vit)
        wanted = {t for g in groups for t in GROUPS[g]}
        if available is not None:
            wanted &= set(available)
        present = {name for name, _ in vit.named_parameters()}
        layers = [f'layers.{i}.' for i in range(self.arch.num_layers)]
        # (parameter suffix or name, its weight types, per layer?)
        self.params: List[Tuple[str, Tuple[str, ...], bool]] = []
        for table, prefixes in ((_LAYER_PARAMS, layers), (_MODEL_PARAMS, [''
                                                                          ])):
            for param, types in table.items():
                if set(types) <= wanted and all(p + param in present
                                                for p in prefixes):
                    self.params.append((param, types, prefixes == layers))
        self._per_layer = {t: pl for _, ts, pl in self.params for t in ts}

    @property
    def types(self) -> Tuple[str, ...]:
        """Templated weight types present in the model."""
        return tuple(self._per_layer)

    def param_names(self) -> List[str]:
        """State-dict names (relative to the backbone) that are templated."""
        return sorted(f'layers.{i}.{param}' if per_layer else param
                      for param, _, per_layer in self.params
                      for i in range(self.arch.num_layers if per_layer else 1))

    def depth(self, name: str) -> int:
        """Number of layers ``L_t`` of weight type ``name``."""
        return self.arch.num_layers if self._per_layer[name] else 1

    def shape(self, name: str, block: Sequence[int]) -> Tuple[int, ...]:
        """Per-layer shape of ``name`` in template orientation."""
        a = self.arch
        d, f = a.embed_dims, a.feedforward_channels
        if name == 'fc1':
            return (f, d)
        if name == 'fc2':
            return (d, f)
        if name == 'fc1_bias':
            return (f, )
        if name == 'patch_embed':
            return (d, a.in_channels * a.patch_size**2)
        if name == 'pos_embed':
            # Built at the templates' own token count, then resized.
            return (block[0], d)
        if name in GROUPS['attn']:
            return (d, d)
        return (d, )

    def to_state_dict(self, weights: Mapping[str,
                                             Tensor]) -> Dict[str, Tensor]:
        """Turn ``{type: [L_t, *shape]}`` into ViT state-dict entries.

        The fused ``qkv`` tensors are concatenated from q, k and v, the patch
        embedding reshaped to a convolution kernel and the position embedding
        resized (bicubic, as mmpretrain does) to this model's patch grid.
        """
        state = {}
        for param, types, per_layer in self.params:
            # One cat for all layers; the per-layer tensors are views.
            value = (
                weights[types[0]] if len(types) == 1 else torch.cat(
                    [weights[t] for t in types], dim=1))
            if per_layer:
                for i, layer in enumerate(value.unbind(0)):
                    state[f'layers.{i}.{param}'] = layer
            else:
                state[param] = self._to_param(param, value[0])
        return state

    def _to_param(self, param: str, value: Tensor) -> Tensor:
        a = self.arch
        if param == 'patch_embed.projection.weight':
            return value.reshape(a.embed_dims, a.in_channels, a.patch_size,
                                 a.patch_size)
        if param == 'cls_token':
            return value.reshape(1, 1, -1)
        if param == 'pos_embed':
            return self._resize_pos_embed(value.unsqueeze(0))
        return value

    def _resize_pos_embed(self, pos_embed: Tensor) -> Tensor:
        a = self.arch
        if pos_embed.shape[1] == a.num_tokens:
            return pos_embed
        # Square patch grids, as in mmpretrain's ``_prepare_pos_embed``.
        extra = pos_embed.shape[1] - a.num_extra_tokens
        side = math.isqrt(extra)
        if side * side != extra:
            raise ValueError(f'cannot resize a position embedding of '
                             f'{pos_embed.shape[1]} tokens to '
                             f'{a.num_tokens}: not a square patch grid')
        return resize_pos_embed(
            pos_embed, (side, side),
            a.patch_resolution,
            num_extra_tokens=a.num_extra_tokens)
