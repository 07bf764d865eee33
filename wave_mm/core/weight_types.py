"""The weight types of a ViT: one table of facts that everything asks.

WAVE keeps templates per *weight type* (``'q'``, ``'fc1'``, ``'ln1_weight'``
...), in PyTorch ``out x in`` orientation. mmpretrain fuses q, k and v in
one ``qkv`` Linear; templates keep them apart (types ``q``, ``k``, ``v``) or
as one type ``qkv`` of three parts (``fused`` in :func:`group_types`), and
likewise their biases. Each row of :data:`WEIGHT_TYPES` says, for one type,
which state-dict tensor of an mmpretrain ``VisionTransformer`` it is (types
sharing a tensor are concatenated along its rows, in table order), its
group, whether it exists per layer, its shape and default template block in
terms of the arch (of one part, for a fused type), how it starts, which
width it reads, and, for a fused type, the types whose rows it stacks.
Shapes are written with the symbols

- ``D``: ``embed_dims``; ``F``: ``feedforward_channels``;
- ``P``: inputs per patch, ``in_channels * patch_size**2``;
- ``N``: position-embedding tokens (a template's own count in shapes, the
  auxiliary's ``num_tokens`` in blocks);
- ``d``: the template width ``d0``; ``f``: ``ffn_ratio * d0`` (blocks only).

Adding a type is adding a row (and, if its tensor is stored in another
shape, a ``to_param`` entry).
"""
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from torch import Tensor

from wave_mm.kronecker import DEFAULT_ORDER, KronOrder, check_order
from wave_mm.templates import FUSED_TYPES, InitKind, TemplateSpec, ViTArch


@dataclass(frozen=True)
class WeightType:
    """Facts about one weight type (see the module docstring).

    Args:
        name: The type's name in templates files.
        group: Parameter group that templates it.
        param: State-dict name: a suffix of ``layers.{i}.`` for per-layer
            types, else the backbone-level name.
        per_layer: One tensor per transformer layer, or one per model.
        shape: Per-layer shape in template orientation, in symbols.
        block: Default template block, in symbols.
        init: What the composed weight starts near.
        reads: Symbol of the input width a matrix reads (its columns), for
            the width rules; ``None`` for vectors and embeddings.
        parts: For a fused type, the types whose rows it stacks, in order
            (:data:`wave_mm.templates.FUSED_TYPES`); ``shape`` and
            ``block`` are then those of one part.
    """
    name: str
    group: str
    param: str
    per_layer: bool
    shape: Tuple[str, ...]
    block: Tuple[str, ...]
    init: InitKind = 'normal'
    reads: Optional[str] = None
    parts: Tuple[str, ...] = ()

    @property
    def chunks(self) -> int:
        """Parts stacked along the rows: 1, or 3 for a fused ``qkv``."""
        return max(len(self.parts), 1)


def _row(name,
         group,
         param,
         per_layer,
         shape,
         block,
         init='normal',
         reads=None) -> WeightType:
    return WeightType(name, group, param, per_layer, tuple(shape.split()),
                      tuple(block.split()), init, reads,
                      FUSED_TYPES.get(name, ()))


#: Every weight type, by name, in the order fused tensors concatenate them.
WEIGHT_TYPES: Dict[str, WeightType] = {
    t.name: t
    for t in (
        _row('q', 'attn', 'attn.qkv.weight', True, 'D D', 'd d', reads='D'),
        _row('k', 'attn', 'attn.qkv.weight', True, 'D D', 'd d', reads='D'),
        _row('v', 'attn', 'attn.qkv.weight', True, 'D D', 'd d', reads='D'),
        _row('qkv', 'attn', 'attn.qkv.weight', True, 'D D', 'd d', reads='D'),
        _row(
            'proj', 'attn', 'attn.proj.weight', True, 'D D', 'd d', reads='D'),
        _row(
            'fc1',
            'ffn',
            'ffn.layers.0.0.weight',
            True,
            'F D',
            'f d',
            reads='D'),
        _row(
            'fc2', 'ffn', 'ffn.layers.1.weight', True, 'D F', 'd f',
            reads='F'),
        _row('q_bias', 'bias', 'attn.qkv.bias', True, 'D', 'd', 'zeros'),
        _row('k_bias', 'bias', 'attn.qkv.bias', True, 'D', 'd', 'zeros'),
        _row('v_bias', 'bias', 'attn.qkv.bias', True, 'D', 'd', 'zeros'),
        _row('qkv_bias', 'bias', 'attn.qkv.bias', True, 'D', 'd', 'zeros'),
        _row('proj_bias', 'bias', 'attn.proj.bias', True, 'D', 'd', 'zeros'),
        _row('fc1_bias', 'bias', 'ffn.layers.0.0.bias', True, 'F', 'f',
             'zeros'),
        _row('fc2_bias', 'bias', 'ffn.layers.1.bias', True, 'D', 'd', 'zeros'),
        _row('ln1_weight', 'norm', 'ln1.weight', True, 'D', 'd', 'ones'),
        _row('ln1_bias', 'norm', 'ln1.bias', True, 'D', 'd', 'zeros'),
        _row('ln2_weight', 'norm', 'ln2.weight', True, 'D', 'd', 'ones'),
        _row('ln2_bias', 'norm', 'ln2.bias', True, 'D', 'd', 'zeros'),
        _row('patch_embed', 'embed', 'patch_embed.projection.weight', False,
             'D P', 'd P'),
        _row('patch_embed_bias', 'embed', 'patch_embed.projection.bias', False,
             'D', 'd', 'zeros'),
        _row('pos_embed', 'embed', 'pos_embed', False, 'N D', 'N d'),
        _row('cls_token', 'embed', 'cls_token', False, 'D', 'd', 'zeros'),
        _row('norm_weight', 'norm', 'ln1.weight', False, 'D', 'd', 'ones'),
        _row('norm_bias', 'norm', 'ln1.bias', False, 'D', 'd', 'zeros'),
    )
}

#: Parameter groups that can be templated, and the weight types in each
#: (fused types and their parts: :func:`group_types` picks one of them).
GROUPS: Dict[str, Tuple[str, ...]] = {}
for _type in WEIGHT_TYPES.values():
    GROUPS[_type.group] = GROUPS.get(_type.group, ()) + (_type.name, )
ALL_GROUPS: Tuple[str, ...] = tuple(GROUPS)


def group_types(groups: Iterable[str], fused: bool = False) -> List[str]:
    """The weight types of ``groups``, group by group: each fused type
    (``qkv``, ``qkv_bias``) where ``fused``, else its parts (``q``, ``k``,
    ``v``...).

    Raises:
        ValueError: An unknown group.
    """
    groups = list(groups)
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        raise ValueError(f'unknown template groups {unknown}; choose from '
                         f'{list(GROUPS)}')
    parts = {p for t in FUSED_TYPES.values() for p in t}
    return [
        t for g in GROUPS if g in groups for t in GROUPS[g]
        if (t in FUSED_TYPES) == fused or not (t in FUSED_TYPES or t in parts)
    ]


def chunks(name: str) -> int:
    """Parts of weight type ``name`` (:attr:`WeightType.chunks`)."""
    if name not in WEIGHT_TYPES:
        raise ValueError(f'unknown weight type {name!r:.80}; wave_mm knows '
                         f'{list(WEIGHT_TYPES)}')
    return WEIGHT_TYPES[name].chunks


def _size(symbol: str,
          arch: ViTArch,
          d0: int = 0,
          f0: int = 0,
          tokens: int = 0) -> int:
    return dict(
        D=arch.embed_dims,
        F=arch.feedforward_channels,
        P=arch.in_channels * arch.patch_size**2,
        N=tokens,
        d=d0,
        f=f0)[symbol]


def weight_shape(name: str, arch: ViTArch,
                 block: Tuple[int, ...]) -> Tuple[int, ...]:
    """Per-layer shape of type ``name`` in a ViT of ``arch``; the position
    embedding is built at the templates' own token count ``block[0]``."""
    tokens = block[0] if name == 'pos_embed' else 0
    rows, *rest = (
        _size(s, arch, tokens=tokens) for s in WEIGHT_TYPES[name].shape)
    return (rows * WEIGHT_TYPES[name].chunks, *rest)


def input_width(name: str, arch: Mapping[str, object]) -> Optional[int]:
    """Input features a matrix type reads in a ViT of ``arch`` (a
    :meth:`ViTArch.as_dict`), ``None`` for types that read no features."""
    reads = WEIGHT_TYPES[name].reads
    key = {'D': 'embed_dims', 'F': 'feedforward_channels'}.get(reads or '')
    return int(arch[key]) if key else None


def residual_block(specs: Mapping[str, TemplateSpec]) -> Optional[int]:
    """Channels per template block along the residual stream (the input
    block of any type that reads ``D``), ``None`` if no such type."""
    for name, spec in specs.items():
        if WEIGHT_TYPES[name].reads == 'D':
            return spec.block[-1]
    return None


def default_specs(arch: ViTArch,
                  types: Iterable[str],
                  template_width: int,
                  ffn_ratio: int,
                  num_templates: int,
                  order: KronOrder = DEFAULT_ORDER) -> Dict[str, TemplateSpec]:
    """Template specs for a model that learns its own templates.

    Base-width templates (``template_width=192`` for the DeiT family) or
    head-sized blocks (``template_width=64, ffn_ratio=1``); every matrix,
    vector and embedding is cut along its width axes into such blocks. A
    fused type's block is one part's for the order ``'ST'`` (its scaler
    grid has the parts' rows), all parts' for ``'TS'`` (its template rows
    are the parts').
    """
    check_order(order)
    d0, f0 = template_width, ffn_ratio * template_width
    specs = {}
    for name in types:
        t = WEIGHT_TYPES[name]
        rows, *rest = (
            _size(s, arch, d0, f0, arch.num_tokens) for s in t.block)
        if order == 'TS':
            rows *= t.chunks
        specs[name] = TemplateSpec((rows, *rest), num_templates, t.init)
    return specs


def _patch_kernel(value: Tensor, arch: ViTArch) -> Tensor:
    return value.reshape(arch.embed_dims, arch.in_channels, arch.patch_size,
                         arch.patch_size)


#: Tensors stored in another shape than their type's: ``(value, arch) ->
#: parameter``. The position embedding's resize is the layout's.
TO_PARAM: Dict[str, Callable[[Tensor, ViTArch], Tensor]] = {
    'patch_embed.projection.weight': _patch_kernel,
    'cls_token': lambda value, arch: value.reshape(1, 1, -1),
    'pos_embed': lambda value, arch: value.unsqueeze(0),
}
