"""``FRONTInit``: the FRONT baseline (frequency-domain initialisation from a
pre-trained ViT of another size) for stock ViTs, training- and data-free.

Per weight type of the table :data:`~wave_mm.core.WEIGHT_TYPES` (q, k and
v apart, although mmpretrain fuses them in one ``qkv``), the ancestry's
layers are stacked, normalised, taken to the frequency domain by an
orthonormal DCT-II along the layer axis and along each width axis, cut to
their low-frequency block or zero-padded to the target's sizes, and taken
back::

    init_cfg=dict(type='FRONTInit', checkpoint='work_dirs/ancestry',
                  head=True)
"""
import math
from dataclasses import replace
from typing import Dict, Optional, Sequence

import torch
from mmengine.logging import print_log
from mmpretrain.models.backbones import VisionTransformer
from torch import Tensor, nn

from wave_mm.core import (WEIGHT_TYPES, ViTInitializer, ViTLayout,
                          ancestry_checkpoint, find_vit, load_head,
                          mark_initialised, register_initializer)
from wave_mm.fileio import load_checkpoint, state_dict_of
from wave_mm.templates import HEAD_PREFIX, ViTArch
from .dct import resize_spectrum, spectral_resize

#: A restored stack with a smaller std than this is taken as constant.
_FLAT = 1e-8


def front_resize(weights: Tensor,
                 shape: Sequence[int],
                 spectral: Sequence[bool],
                 keep_ratio: float = 1.0) -> Tensor:
    """FRONT of one weight type: its stacked ancestry tensors at ``shape``.

    The stack is normalised by its mean and std, resized along the layer
    axis (all ``min(L, L')`` frequencies kept), along each ``spectral``
    width axis (:func:`spectral_resize` with ``keep_ratio``) and, along the
    others, cropped or zero-padded as it is; the result is re-standardised
    (mean 0, std 1) and given the source's mean and std back. At the
    source's own shape with ``keep_ratio=1`` it returns ``weights``.

    Args:
        weights: ``[L, *S]``, the ancestry's layers (one for a per-model
            tensor).
        shape: The target ``[L', *S']``.
        spectral: For each axis of ``S``: resize it in the DCT domain.
        keep_ratio: Share of the kept frequencies per width axis.

    Returns:
        ``[L', *S']`` in the dtype of ``weights``.
    """
    if len(shape) != weights.ndim or len(spectral) != weights.ndim - 1:
        raise ValueError(f'FRONT: a stack of {tuple(weights.shape)} cannot '
                         f'become {tuple(shape)} (spectral axes {spectral})')
    w = weights.double()
    mean, std = w.mean(), w.std(unbiased=False)
    z = (w - mean) / std if std > 0 else torch.zeros_like(w)
    z = spectral_resize(z, 0, shape[0])
    for axis, (size, dct_axis) in enumerate(zip(shape[1:], spectral), 1):
        if dct_axis:
            z = spectral_resize(z, axis, size, keep_ratio)
        elif z.shape[axis] != size:
            z = resize_spectrum(z, axis, size)  # a spatial crop or pad
    spread = z.std(unbiased=False)
    z = (z - z.mean()) / spread if spread > _FLAT else torch.zeros_like(z)
    return (z * std + mean).to(weights.dtype)


def _stack(source: Dict[str, Tensor], names: Sequence[str], rank: int,
           where: str, prefix: str) -> Tensor:
    """The tensors ``names`` of ``source`` in weight-type orientation (of
    ``rank`` dims: kernels flattened, batch dims dropped), stacked."""
    values = []
    for name in names:
        if name not in source:
            raise ValueError(f'{where}: no {prefix + name!r} in the ancestry '
                             'checkpoint')
        value = source[name]
        if value.ndim == 4:  # the patch embedding's convolution kernel
            value = value.reshape(value.shape[0], -1)
        elif value.ndim > rank and math.prod(value.shape[:-rank]) == 1:
            value = value.reshape(value.shape[-rank:])
        if value.ndim != rank or (values and value.shape != values[0].shape):
            raise ValueError(f'{where}: {prefix + name!r} has shape '
                             f'{tuple(source[name].shape)}, not that of a '
                             f'{rank}-d weight like {prefix + names[0]!r}')
        values.append(value)
    return torch.stack(values)


def _source_arch(source: Dict[str, Tensor], target: ViTArch, where: str,
                 prefix: str) -> ViTArch:
    """The ancestry's position-embedding tokens, as an arch for the layout's
    resize (a square patch grid unless it has the target's patch count)."""
    if 'pos_embed' not in source:
        return target  # reported as missing if the target has one
    extra = int('cls_token' in source) + int('dist_token' in source)
    pos_embed = source['pos_embed']
    tokens = pos_embed.shape[-2] if pos_embed.ndim >= 2 else 0
    patches, (h, w) = tokens - extra, target.patch_resolution
    side = math.isqrt(max(patches, 0))
    if patches != h * w and (patches <= 0 or side * side != patches):
        raise ValueError(f'{where}: {prefix}pos_embed has {tokens} tokens, '
                         f'{extra} of them extra: not a square patch grid')
    grid = (h, w) if patches == h * w else (side, side)
    return replace(target, patch_resolution=grid, num_extra_tokens=extra)


def front_state(vit: VisionTransformer,
                source: Dict[str, Tensor],
                where: str,
                keep_ratio: float = 1.0,
                ffn_1d: bool = False,
                prefix: str = '') -> Dict[str, Tensor]:
    """The state dict FRONT gives ``vit`` from the ancestry backbone
    ``source`` (its keys without ``prefix``), the position embedding
    resized to ``vit``'s tokens as mmpretrain does.

    Raises:
        ValueError: naming ``where`` and the key, for a missing tensor, a
            patch size or input channels unlike the target's, or a target
            tensor FRONT has no rule for.
    """
    layers = {
        int(k.split('.')[1])
        for k in source
        if k.startswith('layers.') and k.split('.')[1].isdigit()
    }
    if not layers:
        raise ValueError(f'{where}: no transformer layers '
                         f'({prefix}layers.*) in the ancestry checkpoint')
    arch = ViTArch.from_vit(vit)
    layout = ViTLayout(vit, source=_source_arch(source, arch, where, prefix))
    tokens = (layout.source.num_tokens, )
    weights = {}
    for param, types, per_layer in layout.params:
        names = ([f'layers.{i}.{param}'
                  for i in range(len(layers))] if per_layer else [param])
        rank = len(WEIGHT_TYPES[types[0]].shape)
        stack = _stack(source, names, rank, where, prefix)
        if stack.shape[1] % len(types):
            raise ValueError(f'{where}: {prefix + names[0]} has '
                             f'{stack.shape[1]} rows, not {len(types)} equal '
                             f'parts {types}')
        for name, part in zip(types, stack.chunk(len(types), dim=1)):
            kind = WEIGHT_TYPES[name]
            shape = (layout.depth(name), ) + layout.shape(name, tokens)
            if 'P' in kind.shape:
                axis = kind.shape.index('P') + 1
                if part.shape[axis] != shape[axis]:
                    raise ValueError(
                        f'{where}: {prefix + param} has shape '
                        f'{tuple(source[param].shape)}, '
                        f'{part.shape[axis]} inputs per patch; the target '
                        f'{shape[axis]} (patch_size={arch.patch_size}, '
                        f'in_channels={arch.in_channels}): FRONT keeps the '
                        'patching')
            spectral = [
                s in ('D', 'F')
                and not (ffn_1d and kind.group == 'ffn' and s == 'D')
                for s in kind.shape
            ]
            weights[name] = front_resize(part, shape, spectral, keep_ratio)
    state = layout.to_state_dict(weights)
    own = vit.state_dict()
    unknown = sorted(set(own) - set(state))
    if unknown:
        raise ValueError(f'{where}: FRONT has no rule for the target tensors '
                         f'{unknown}')
    for name, value in state.items():
        if value.shape != own[name].shape:
            raise ValueError(f'{where}: {name} comes out {tuple(value.shape)}'
                             f', the target has {tuple(own[name].shape)}')
    return state


def front_head(source: Dict[str, Tensor],
               target: Dict[str, Tensor],
               where: str,
               keep_ratio: float = 1.0) -> Optional[Dict[str, Tensor]]:
    """The head FRONT gives a target head of state ``target`` (its matrices
    resized along their input width), or ``None`` when the class counts
    (first dims) differ."""
    out = {}
    for name, value in target.items():
        key = HEAD_PREFIX + name
        if name not in source:
            raise ValueError(f'{where}: no {key!r} in the ancestry checkpoint')
        src = source[name]
        if src.ndim != value.ndim or src.ndim not in (1, 2):
            raise ValueError(f'{where}: {key} has shape {tuple(src.shape)}, '
                             f'the target {tuple(value.shape)}')
        if src.shape[0] != value.shape[0]:
            return None
        out[name] = (
            front_resize(src[None], (1, ) + value.shape, (False, True),
                         keep_ratio)[0] if src.ndim == 2 else src.clone())
    return out


def _split(state: Dict[str, Tensor], prefix: str) -> Dict[str, Tensor]:
    return {
        k[len(prefix):]: v
        for k, v in state.items() if k.startswith(prefix)
    }


@register_initializer
class FRONTInit(ViTInitializer):
    """Initialise a stock ViT of any width and depth by FRONT.

    Every weight type (q, k and v of the fused ``qkv`` apart) is normalised
    by one mean and std over all its ancestry layers (per type, not per
    layer: the layers' relative scales stay in the coefficients), then
    transformed by an orthonormal DCT-II: 2-D for matrices, 1-D for
    vectors, along the width only for the patch embedding (its inputs per
    patch must match), the position embedding (its tokens are resized
    afterwards, as mmpretrain does) and the class token; the final norm is
    one vector, not per layer. The low-frequency block that fits the target
    is kept, the rest zero-padded. Along depth the layers are stacked and
    their DCT along the layer axis truncated or zero-padded in the same way
    (the depth rule is zero-padding; ``keep_ratio`` cuts width axes only).
    After the inverse transforms the stack is re-standardised (mean 0, std
    1: truncating or padding an orthonormal spectrum changes magnitudes,
    and this undoes it whatever the spectrum, where a ``sqrt(tgt/src)``
    factor would only for some) and given the source's mean and std back.
    So each type of the target has exactly the ancestry's mean and std, and
    a target of the ancestry's own shape with ``keep_ratio=1`` is the
    ancestry. The classifier head is copied (its input width resized) only
    with ``head=True`` and the same class count. The paper's spectral
    refinement during pre-training is not implemented; the released
    initialiser does not use it.

    Reference: *One-for-All Model Initialization with Frequency-Domain
    Knowledge* (FRONT), arXiv 2603.07523, ICML 2026.

    Args:
        checkpoint: The ancestry checkpoint, or a work dir (its
            ``last_checkpoint``); loaded safely.
        prefix: Key prefix of its backbone (``'backbone.'`` for mmpretrain
            classifier checkpoints, ``''`` for bare backbones).
        head: Also copy the classifier head when the class counts match
            (needs the initializer on the whole classifier).
        keep_ratio: In ``(0, 1]``: per width axis only the first
            ``round(keep_ratio * min(source, target))`` frequencies are kept.
        ffn_1d: Transform the FFN matrices along their hidden axis only;
            along the embedding axis they are cropped or zero-padded.
    """

    def __init__(self,
                 checkpoint: str,
                 prefix: str = 'backbone.',
                 head: bool = False,
                 keep_ratio: float = 1.0,
                 ffn_1d: bool = False,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(keep_ratio, bool) or not isinstance(
                keep_ratio, (int, float)) or not 0 < keep_ratio <= 1:
            raise ValueError('FRONTInit: keep_ratio must be a number in '
                             f'(0, 1], got {keep_ratio!r}')
        for name, flag in (('head', head), ('ffn_1d', ffn_1d)):
            if not isinstance(flag, bool):
                raise ValueError(f'FRONTInit: {name} must be True or False, '
                                 f'got {flag!r}')
        self.checkpoint, self.prefix, self.head = checkpoint, prefix, head
        self.keep_ratio, self.ffn_1d = float(keep_ratio), ffn_1d

    def __call__(self, module: nn.Module) -> None:
        vit = find_vit(module)
        path = ancestry_checkpoint(self.checkpoint)
        state = state_dict_of(load_checkpoint(path), path)
        source = _split(state, self.prefix)
        values = front_state(vit, source, path, self.keep_ratio, self.ffn_1d,
                             self.prefix)
        head = self._head(module, state, path) if self.head else None
        with torch.no_grad():
            if head is not None:
                load_head(module, head, path)
            vit.load_state_dict(values, strict=True)
        mark_initialised(
            self, module, vit, f'FRONTInit: {len(values)} tensors of '
            f'{vit.num_layers} layers from {path}' +
            (', head copied' if head is not None else ''))

    def _head(self, module: nn.Module, state: Dict[str, Tensor],
              path: str) -> Optional[Dict[str, Tensor]]:
        target = getattr(module, 'head', None)
        if target is None:
            raise ValueError('FRONTInit(head=True) must be placed on a '
                             'classifier with a head')
        source = _split(state, HEAD_PREFIX)
        if not source:
            raise ValueError(f'head=True: {path} stores no classifier head '
                             f'({HEAD_PREFIX}* keys)')
        own = target.state_dict()
        values = front_head(source, own, path, self.keep_ratio)
        if values is None:
            shapes = {k: tuple(v.shape) for k, v in own.items()}
            print_log(
                f'FRONTInit: the head of {path} has other classes (or '
                f'another layout) than the target {shapes}; it is left to '
                'its own init',
                logger='current')
        return values

    def _get_init_info(self) -> str:
        return (f'{self.__class__.__name__}: checkpoint={self.checkpoint}, '
                f'head={self.head}, keep_ratio={self.keep_ratio}, '
                f'ffn_1d={self.ffn_1d}')
