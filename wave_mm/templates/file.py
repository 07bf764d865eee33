"""The templates file and the scalers file: format, writing, safe reading.

Both are safetensors files (no pickled code is ever executed on load) with a
JSON header under the metadata key ``wave_mm``:

- a **templates file** (``kind='templates'``) holds, per weight type, the
  templates ``templates/<type>`` and the auxiliary model's scalers
  ``scalers/<type>``, the auxiliary's non-templated tensors ``extras/<name>``
  and metadata: format version, template specs (block shape, count, init),
  templated groups, auxiliary arch, ancestry description and a content hash;
- a **scalers file** (``kind='scalers'``) holds the fitted scalers of one
  target arch and the content hash of the templates they were fitted to.
"""
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any, Dict, List, Literal, Mapping, Tuple

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

FORMAT_VERSION = 1
InitKind = Literal['normal', 'ones', 'zeros']


class TemplatesFileError(ValueError):
    """A templates or scalers file is missing, unsafe or malformed."""


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
        arch: The auxiliary's :class:`~wave_mm.models.ViTArch` as a dict.
        groups: Templated parameter groups.
        ancestry: Free text naming the ancestry model(s) distilled.
        content_hash: SHA-256 of all tensors, set when read or written.
    """
    specs: Dict[str, TemplateSpec]
    templates: Dict[str, Tensor]
    scalers: Dict[str, Tensor]
    extras: Dict[str, Tensor] = field(default_factory=dict)
    arch: Dict[str, Any] = field(default_factory=dict)
    groups: List[str] = field(default_factory=list)
    ancestry: str = ''
    content_hash: str = ''

    def head(self) -> Dict[str, Tensor]:
        """The auxiliary's classifier head (``head.*`` extras), by its own
        state-dict names; empty if none was exported."""
        return {
            k[len('head.'):]: v
            for k, v in self.extras.items() if k.startswith('head.')
        }


@dataclass
class Scalers:
    """Contents of a scalers file: one target's fitted scalers.

    Args:
        scalers: ``{type: [L_t, N_t, *grid]}``.
        arch: The target's :class:`~wave_mm.models.ViTArch` as a dict.
        templates_hash: Content hash of the templates they belong to.
    """
    scalers: Dict[str, Tensor]
    arch: Dict[str, Any]
    templates_hash: str = ''


def content_hash(tensors: Mapping[str, Tensor]) -> str:
    """SHA-256 over tensor names, dtypes, shapes and bytes."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        value = tensors[name].detach().cpu().contiguous()
        digest.update(f'{name}|{value.dtype}|{tuple(value.shape)}|'.encode())
        digest.update(value.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def save_templates(path: str, data: Templates) -> str:
    """Write a templates file atomically; returns its content hash."""
    tensors = _prefixed(
        templates=data.templates, scalers=data.scalers, extras=data.extras)
    data.content_hash = content_hash(tensors)
    specs = {
        name: dict(block=list(s.block), count=s.count, init=s.init)
        for name, s in data.specs.items()
    }
    meta = dict(
        specs=specs,
        arch=data.arch,
        groups=list(data.groups),
        ancestry=data.ancestry,
        content_hash=data.content_hash)
    _write(path, 'templates', tensors, meta)
    return data.content_hash


def save_scalers(path: str, data: Scalers) -> None:
    """Write a scalers file atomically."""
    meta = dict(arch=data.arch, templates_hash=data.templates_hash)
    _write(path, 'scalers', _prefixed(scalers=data.scalers), meta)


def load_templates(path: str) -> Templates:
    """Read and validate a templates file.

    Raises:
        TemplatesFileError: naming ``path`` and the fault: missing file, a
            pickled checkpoint, unknown or newer format, missing keys, wrong
            shapes, NaN/Inf values or a content hash mismatch.
    """
    meta, tensors = _read(path, 'templates')
    try:
        specs = {
            name:
            TemplateSpec(
                tuple(int(b) for b in s['block']), int(s['count']),
                s.get('init', 'normal'))
            for name, s in meta['specs'].items()
        }
        arch = meta['arch']
    except (KeyError, TypeError, ValueError) as err:
        raise TemplatesFileError(
            f'{path}: malformed template specs in the header ({err!r})')
    groups = _split(tensors)
    for name, spec in specs.items():
        for kind in ('templates', 'scalers'):
            if name not in groups[kind]:
                raise TemplatesFileError(f'{path}: missing key {kind}/{name}')
        _check_shapes(path, name, spec, groups['templates'][name],
                      groups['scalers'][name])
    digest = content_hash(tensors)
    if meta.get('content_hash') != digest:
        raise TemplatesFileError(
            f'{path}: content hash mismatch (header '
            f'{meta.get("content_hash")!r}, data {digest!r}): the file was '
            'modified or is corrupt')
    return Templates(specs, groups['templates'], groups['scalers'],
                     groups['extras'], arch, list(meta.get('groups', [])),
                     meta.get('ancestry', ''), digest)


def load_scalers(path: str) -> Scalers:
    """Read and validate a scalers file (see :func:`load_templates`)."""
    meta, tensors = _read(path, 'scalers')
    if 'arch' not in meta:
        raise TemplatesFileError(f'{path}: header has no arch')
    return Scalers(
        _split(tensors)['scalers'], meta['arch'],
        meta.get('templates_hash', ''))


def _prefixed(**groups: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    return {
        f'{kind}/{name}': value.detach().cpu().float().contiguous()
        for kind, values in groups.items()
        for name, value in values.items()
    }


def _split(tensors: Mapping[str, Tensor]) -> Dict[str, Dict[str, Tensor]]:
    out: Dict[str, Dict[str, Tensor]] = dict(
        templates={}, scalers={}, extras={})
    for key, value in tensors.items():
        kind, _, name = key.partition('/')
        out.setdefault(kind, {})[name] = value
    return out


def _check_shapes(path: str, name: str, spec: TemplateSpec, templates: Tensor,
                  scalers: Tensor) -> None:
    expected = (spec.count, *spec.block)
    if tuple(templates.shape) != expected:
        raise TemplatesFileError(
            f'{path}: templates/{name} has shape {tuple(templates.shape)}, '
            f'the header says {expected}')
    if scalers.ndim != 2 + len(spec.block) or scalers.shape[1] != spec.count:
        raise TemplatesFileError(
            f'{path}: scalers/{name} has shape {tuple(scalers.shape)}, '
            f'expected [layers, {spec.count}, grid of {len(spec.block)} dims]')


def _write(path: str, kind: str, tensors: Dict[str, Tensor],
           meta: Dict[str, Any]) -> None:
    header = dict(
        format=f'wave_mm.{kind}', format_version=FORMAT_VERSION, **meta)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory,
                       f'.{os.path.basename(path)}.tmp{os.getpid()}')
    try:
        save_file(tensors, tmp, metadata={'wave_mm': json.dumps(header)})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _read(path: str, kind: str) -> Tuple[Dict[str, Any], Dict[str, Tensor]]:
    if not os.path.isfile(path):
        raise TemplatesFileError(f'{kind} file not found: {path}')
    with open(path, 'rb') as f:
        head = f.read(9)
        # safetensors: an 8-byte little-endian header size, then JSON. The
        # size's first byte can be 0x80 or b'PK', so those magics mark a
        # pickle or zip only when no JSON header follows.
        size = struct.unpack('<Q', head[:8])[0] if len(head) == 9 else 0
        is_safetensors = (
            head[8:9] == b'{' and 0 < size <= os.path.getsize(path) - 8)
        if not is_safetensors and (head[:2] == b'PK' or head[:1] == b'\x80'):
            raise TemplatesFileError(
                f'{path} is a pickled PyTorch checkpoint, not a wave_mm '
                f'{kind} file; it is not loaded (pickles can run code). '
                'Write templates with tools/export_templates.py.')
        try:
            f.seek(8)
            header = json.loads(f.read(size))
            meta = json.loads(header['__metadata__']['wave_mm'])
        except (ValueError, KeyError, TypeError, MemoryError, OverflowError):
            raise TemplatesFileError(
                f'{path} is not a wave_mm {kind} file (no safetensors '
                'header with wave_mm metadata)') from None
    if meta.get('format') != f'wave_mm.{kind}':
        raise TemplatesFileError(
            f'{path}: format is {meta.get("format")!r}, expected '
            f"'wave_mm.{kind}'")
    version = meta.get('format_version')
    if not isinstance(version, int) or version < 1:
        raise TemplatesFileError(f'{path}: unknown format_version {version!r}')
    if version > FORMAT_VERSION:
        raise TemplatesFileError(
            f'{path}: format_version {version} is newer than this wave_mm '
            f'reads ({FORMAT_VERSION}); upgrade wave_mm')
    tensors = load_file(path)
    for name, value in tensors.items():
        if not torch.isfinite(value).all():
            raise TemplatesFileError(f'{path}: {name} contains NaN or Inf')
    return meta, tensors
