"""What a templates or scalers file holds, and the hash that seals it.

Format 2 seals the whole file: :func:`content_hash` covers the canonical
header (every key but the hash itself, as sorted compact JSON) and every
tensor's name, dtype, shape and bytes, so no edit of the header (``arch``,
``groups``, ``specs``...) or of the data goes unnoticed. Format 1 covered the
tensors only and is still read, with a warning.
"""
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Literal, Mapping, Optional, Tuple

import torch
from torch import Tensor

from wave_mm.kronecker import DEFAULT_ORDER, KronOrder

FORMAT_VERSION = 2
InitKind = Literal['normal', 'ones', 'zeros']
INIT_KINDS: Tuple[str, ...] = ('normal', 'ones', 'zeros')
#: Weight types a file may hold fused, by the types whose rows they stack
#: (in this order); a file holds either a fused type or its parts.
FUSED_TYPES: Dict[str, Tuple[str, ...]] = {
    'qkv': ('q', 'k', 'v'),
    'qkv_bias': ('q_bias', 'k_bias', 'v_bias'),
}
#: Prefix of the auxiliary's classifier head among a file's extras.
HEAD_PREFIX = 'head.'


@dataclass(frozen=True)
class TemplateSpec:
    """What one weight type's templates look like.

    Args:
        block: Shape of one template, ``(o, i)`` or ``(t,)``.
        count: Number of templates ``N_t``.
        init: Value the composed weight starts near: ``'normal'``
            (std 0.02 like mmpretrain's ViT), ``'ones'`` (norm scales) or
            ``'zeros'`` (biases, tokens).
    """
    block: Tuple[int, ...]
    count: int
    init: InitKind = 'normal'


@dataclass
class Templates:
    """Contents of a templates file.

    Args:
        specs: Template spec per weight type.
        templates: ``{type: [N_t, *block]}``.
        scalers: The auxiliary's scalers, ``{type: [L_t, N_t, *grid]}``.
        extras: The auxiliary's non-templated backbone tensors by state-dict
            name, so its own arch is reproduced exactly; its classifier
            head, if exported, under ``head.`` (e.g.
            ``head.layers.head.weight``).
        arch: The auxiliary's :class:`~wave_mm.templates.ViTArch` as a dict.
        groups: Templated parameter groups.
        ancestry: Free text naming the ancestry model(s) distilled.
        content_hash: SHA-256 of header and tensors, set when read or
            written.
        kron_order: ``'ST'`` (``sum_k S_k ⊗ T_k``) or ``'TS'`` (``sum_k
            T_k ⊗ S_k``), see :mod:`wave_mm.kronecker`; files that record
            none are ``'ST'``.
    """
    specs: Dict[str, TemplateSpec]
    templates: Dict[str, Tensor]
    scalers: Dict[str, Tensor]
    extras: Dict[str, Tensor] = field(default_factory=dict)
    arch: Dict[str, Any] = field(default_factory=dict)
    groups: List[str] = field(default_factory=list)
    ancestry: str = ''
    content_hash: str = ''
    kron_order: KronOrder = DEFAULT_ORDER

    def head(self) -> Dict[str, Tensor]:
        """The auxiliary's classifier head (``head.*`` extras), by its own
        state-dict names; empty if none was exported."""
        return {
            k[len(HEAD_PREFIX):]: v
            for k, v in self.extras.items() if k.startswith(HEAD_PREFIX)
        }


@dataclass
class Scalers:
    """Contents of a scalers file: one target's fitted scalers.

    Args:
        scalers: ``{type: [L_t, N_t, *grid]}``.
        arch: The target's :class:`~wave_mm.templates.ViTArch` as a dict.
        templates_hash: Content hash of the templates they belong to; a
            scalers file is only used with those templates.
        content_hash: SHA-256 of header and tensors, set when read or
            written.
    """
    scalers: Dict[str, Tensor]
    arch: Dict[str, Any]
    templates_hash: str = ''
    content_hash: str = ''


def canonical_header(header: Mapping[str, Any]) -> bytes:
    """The header as hashed: sorted compact JSON without ``content_hash``."""
    sealed = {k: v for k, v in header.items() if k != 'content_hash'}
    return json.dumps(
        sealed, sort_keys=True, separators=(',', ':'),
        allow_nan=False).encode()


def content_hash(tensors: Mapping[str, Tensor],
                 header: Optional[Mapping[str, Any]] = None) -> str:
    """SHA-256 over the canonical ``header`` (format 2) and the tensors'
    names, dtypes, shapes and bytes; ``header=None`` is format 1's hash."""
    digest = hashlib.sha256()
    if header is not None:
        digest.update(b'wave_mm/2\0' + canonical_header(header) + b'\0')
    for name in sorted(tensors):
        value = tensors[name].detach().cpu().contiguous()
        digest.update(f'{name}|{value.dtype}|{tuple(value.shape)}|'.encode())
        # reshape: a 0-dim tensor cannot be viewed as bytes directly.
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
