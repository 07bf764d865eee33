"""``ViTLayout``: where each weight type sits in one mmpretrain ViT.

Maps the composed ``{type: [L_t, *shape]}`` weights of a
:class:`~wave_mm.core.TemplateBank` onto the state-dict names of a
``VisionTransformer`` (or subclass), by the table of
:mod:`wave_mm.core.weight_types`.
"""
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import torch
from mmpretrain.models.utils import resize_pos_embed
from torch import Tensor, nn

from wave_mm.templates import FUSED_TYPES, ViTArch
from .weight_types import (ALL_GROUPS, TO_PARAM, WEIGHT_TYPES, group_types,
                           weight_shape)


def _from_param(param: str, value: Tensor) -> Tensor:
    """A state-dict tensor in its weight type's orientation."""
    if param == 'pos_embed':
        return value.reshape(value.shape[-2], value.shape[-1])
    if param == 'cls_token':
        return value.reshape(-1)
    if value.ndim > 2:  # the patch embedding's convolution kernel
        return value.reshape(value.shape[0], -1)
    return value


class ViTLayout:
    """Mapping between weight types and one ViT's state-dict entries.

    Args:
        vit: The ``VisionTransformer`` (or subclass) whose tensors are meant.
        groups: Parameter groups (keys of
            :data:`~wave_mm.core.weight_types.GROUPS`) to template.
        available: Weight types there are templates for; a tensor made of
            others is left out (``None``: every type of ``groups``, q, k
            and v apart). Fused types (``qkv``) are used where it names
            them, their parts (``q``, ``k``, ``v``) otherwise.
        source: The arch the position-embedding templates were made for
            (their extra tokens and patch grid); default: this model's.

    Weight types whose tensor the model lacks (no qkv bias, no final norm,
    no class token) are left out. A distillation token (DeiT's
    ``DistilledVisionTransformer``), which has no type of its own, is the
    class token's copy, and its position-embedding slot the class token's.
    """

    def __init__(self,
                 vit: nn.Module,
                 groups: Sequence[str] = ALL_GROUPS,
                 available: Optional[Iterable[str]] = None,
                 source: Optional[ViTArch] = None) -> None:
        available = None if available is None else set(available)
        fused = bool(available and available & set(FUSED_TYPES))
        for name, parts in FUSED_TYPES.items():
            mixed = sorted(set(parts) & (available or set()))
            if fused and mixed:
                raise ValueError(
                    f'weight types {sorted(available & set(FUSED_TYPES))} '
                    f'and {mixed} together; templates hold {name} fused or '
                    f'{list(parts)} apart, not both')
        wanted = set(group_types(groups, fused))
        if available is not None:
            wanted &= available
        self.arch = ViTArch.from_vit(vit)
        self.source = source or self.arch
        self.interpolate_mode = getattr(vit, 'interpolate_mode', 'bicubic')
        present = {name for name, _ in vit.named_parameters()}
        layers = [f'layers.{i}.' for i in range(self.arch.num_layers)]
        # (parameter suffix or name, its weight types, per layer?)
        self.params: List[Tuple[str, Tuple[str, ...], bool]] = []
        # Types of one tensor (a fused type on its own).
        sharing: Dict[Tuple[str, bool, bool], Tuple[str, ...]] = {}
        for t in WEIGHT_TYPES.values():
            key = (t.param, t.per_layer, bool(t.parts))
            sharing[key] = sharing.get(key, ()) + (t.name, )
        for (param, per_layer, _), types in sharing.items():
            prefixes = layers if per_layer else ['']
            if set(types) <= wanted and all(p + param in present
                                            for p in prefixes):
                self.params.append((param, types, per_layer))
        self._per_layer = {t: pl for _, ts, pl in self.params for t in ts}
        # Tensors without a type of their own, copied from one that has.
        self.copies = {
            'dist_token': 'cls_token'
        } if 'dist_token' in present and 'cls_token' in self._per_layer else {}

    @property
    def types(self) -> Tuple[str, ...]:
        """Templated weight types present in the model."""
        return tuple(self._per_layer)

    def param_names(self) -> List[str]:
        """State-dict names (relative to the backbone) that are templated."""
        return sorted([
            f'layers.{i}.{param}' if per_layer else param
            for param, _, per_layer in self.params
            for i in range(self.arch.num_layers if per_layer else 1)
        ] + list(self.copies))

    def per_layer(self, name: str) -> bool:
        """Whether type ``name`` exists once per layer (else per model)."""
        return self._per_layer[name]

    def depth(self, name: str) -> int:
        """Number of layers ``L_t`` of weight type ``name``."""
        return self.arch.num_layers if self._per_layer[name] else 1

    def shape(self, name: str, block: Sequence[int]) -> Tuple[int, ...]:
        """Per-layer shape of ``name`` in template orientation."""
        return weight_shape(name, self.arch, tuple(block))

    def to_state_dict(self, weights: Mapping[str,
                                             Tensor]) -> Dict[str, Tensor]:
        """Turn ``{type: [L_t, *shape]}`` into ViT state-dict entries.

        The fused ``qkv`` tensors are concatenated from q, k and v (or are
        the fused type ``qkv``, whose rows are mmpretrain's), the patch
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
        for copy, original in self.copies.items():
            state[copy] = state[original]
        return state

    def from_state_dict(self,
                        state: Mapping[str, Tensor],
                        source: str = 'state dict') -> Dict[str, Tensor]:
        """The inverse of :meth:`to_state_dict` for a model of this very
        arch: ``{type: [L_t, *shape]}`` from ViT state-dict entries.

        Raises:
            ValueError: A tensor is missing or has another shape than this
                model's, naming ``source`` and the key.
        """
        a = self.arch
        weights = {}
        for param, types, per_layer in self.params:
            names = ([f'layers.{i}.{param}'
                      for i in range(a.num_layers)] if per_layer else [param])
            values = []
            for name in names:
                if name not in state:
                    raise ValueError(f'{source}: no {name!r}; it must have '
                                     'the auxiliary\'s arch')
                value = state[name]
                if param == 'pos_embed' and value.shape[1] != a.num_tokens:
                    raise ValueError(
                        f'{source}: {name} has {value.shape[1]} tokens, the '
                        f'auxiliary {a.num_tokens}')
                values.append(_from_param(param, value))
            stacked = torch.stack(values)
            parts = stacked.chunk(len(types), dim=1)
            for t, part in zip(types, parts):
                shape = self.shape(t, (a.num_tokens, ) if t == 'pos_embed' else
                                   ())
                if tuple(part.shape[1:]) != tuple(shape):
                    raise ValueError(
                        f'{source}: {names[0]} gives {t} of shape '
                        f'{tuple(part.shape[1:])}, the auxiliary\'s is '
                        f'{tuple(shape)}')
                weights[t] = part
        return weights

    def _to_param(self, param: str, value: Tensor) -> Tensor:
        if param in TO_PARAM:
            value = TO_PARAM[param](value, self.arch)
        if param == 'pos_embed':
            return self._resize_pos_embed(value)
        return value

    def _resize_pos_embed(self, pos_embed: Tensor) -> Tensor:
        """The source's position embedding on this model's tokens: extra
        tokens dropped, or added as copies of the last one (a distillation
        token's of the class token's), the patch grid resized as mmpretrain
        does (its ``interpolate_mode``)."""
        src, dst = self.source, self.arch
        if pos_embed.shape[1] != src.num_tokens:
            raise ValueError(
                f'a position embedding of {pos_embed.shape[1]} tokens is '
                f'not the {src.num_tokens} of its {src.num_extra_tokens} '
                f'extra tokens and {src.patch_resolution} patch grid')
        extra = pos_embed[:, :src.num_extra_tokens]
        grid = pos_embed[:, src.num_extra_tokens:]
        if tuple(src.patch_resolution) != tuple(dst.patch_resolution):
            grid = resize_pos_embed(
                grid,
                tuple(src.patch_resolution),
                tuple(dst.patch_resolution),
                mode=self.interpolate_mode,
                num_extra_tokens=0)
        want = dst.num_extra_tokens
        if want > extra.shape[1]:
            last = (
                extra[:, -1:] if extra.shape[1] else grid.new_zeros(
                    1, 1, grid.shape[-1]))
            extra = torch.cat([extra] + [last] * (want - extra.shape[1]), 1)
        return torch.cat([extra[:, :want], grid], dim=1)
