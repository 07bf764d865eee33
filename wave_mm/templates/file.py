"""The templates file and the scalers file: writing and safe reading.

Both are safetensors files (no pickled code is ever executed on load) with a
JSON header under the metadata key ``wave_mm``:

- a **templates file** (``kind='templates'``) holds, per weight type, the
  templates ``templates/<type>`` and the auxiliary model's scalers
  ``scalers/<type>``, the auxiliary's non-templated tensors ``extras/<name>``
  and metadata: format version, template specs (block shape, count, init),
  templated groups, auxiliary arch, ancestry description, the order of the
  Kronecker product (``kron_order``, ``'ST'`` where absent) and a content
  hash;
- a **scalers file** (``kind='scalers'``) holds the fitted scalers of one
  target arch, the content hash of the templates they were fitted to and
  its own content hash.

What the content hash covers is in :mod:`wave_mm.templates.format`; what is
checked on reading, in :mod:`wave_mm.templates.header`.
"""
import json
import os.path as osp
import struct
import warnings
from typing import Any, Dict, Iterable, Mapping, Tuple

from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import Tensor

from wave_mm.fileio import TemplatesFileError, atomic_write
from wave_mm.kronecker import DEFAULT_ORDER
from .format import FORMAT_VERSION, Scalers, Templates, content_hash
from .header import (check_header, check_tensor_entries, check_tensors,
                     parse_spec)

_MAX_HEADER = 100 << 20  # safetensors' own limit


def save_templates(path: str, data: Templates,
                   inputs: Iterable[str] = ()) -> str:
    """Write a templates file atomically; returns its content hash.

    Args:
        path: The file to write.
        data: What to write; its ``content_hash`` is set.
        inputs: Files ``data`` was read from, which ``path`` must not be.
    """
    tensors = _prefixed(
        templates=data.templates, scalers=data.scalers, extras=data.extras)
    specs = {
        name: dict(block=list(s.block), count=s.count, init=s.init)
        for name, s in data.specs.items()
    }
    header = dict(
        specs=specs,
        arch=data.arch,
        groups=list(data.groups),
        ancestry=data.ancestry,
        kron_order=data.kron_order)
    data.content_hash = _write(path, 'templates', tensors, header, inputs)
    return data.content_hash


def save_scalers(path: str, data: Scalers, inputs: Iterable[str] = ()) -> str:
    """Write a scalers file atomically; returns its content hash."""
    header = dict(arch=data.arch, templates_hash=data.templates_hash)
    data.content_hash = _write(path, 'scalers',
                               _prefixed(scalers=data.scalers), header, inputs)
    return data.content_hash


def load_templates(path: str) -> Templates:
    """Read and validate a templates file.

    Raises:
        TemplatesFileError: naming ``path`` and the fault: missing or
            unreadable file, a pickled checkpoint, unknown or newer format,
            a malformed header, missing keys, wrong shapes or dtypes,
            NaN/Inf values or a content hash mismatch.
    """
    meta, tensors = _read(path, 'templates')
    groups = _split(tensors, 'templates')
    specs = {
        name: parse_spec(name, spec, path)
        for name, spec in meta['specs'].items()
    }
    check_tensors(path, specs, groups, 'templates')
    _verify(path, 'templates', meta, tensors)
    return Templates(specs, groups['templates'], groups['scalers'],
                     groups['extras'], meta['arch'],
                     list(meta.get('groups', [])), meta.get('ancestry', ''),
                     meta.get('content_hash', ''),
                     meta.get('kron_order', DEFAULT_ORDER))


def load_scalers(path: str) -> Scalers:
    """Read and validate a scalers file (see :func:`load_templates`)."""
    meta, tensors = _read(path, 'scalers')
    groups = _split(tensors, 'scalers')
    check_tensors(path, {}, groups, 'scalers')
    _verify(path, 'scalers', meta, tensors)
    return Scalers(groups['scalers'], meta['arch'],
                   meta.get('templates_hash', ''),
                   meta.get('content_hash', ''))


def _prefixed(**groups: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    return {
        f'{kind}/{name}': value.detach().cpu().float().contiguous()
        for kind, values in groups.items()
        for name, value in values.items()
    }


def _verify(path: str, kind: str, meta: Mapping[str, Any],
            tensors: Mapping[str, Tensor]) -> None:
    version = meta['format_version']
    digest = content_hash(tensors, meta if version >= 2 else None)
    # Format-1 scalers files carried no hash at all.
    unsealed = version == 1 and kind == 'scalers'
    if not unsealed and meta.get('content_hash', '') != digest:
        raise TemplatesFileError(
            f'{path}: content hash mismatch (header '
            f'{meta.get("content_hash")!r}, data {digest!r}): the file was '
            'modified or is corrupt')
    if version < FORMAT_VERSION:
        how = (f'python tools/export_templates.py {path} --out NEW_FILE' if
               kind == 'templates' else 'fit it again with the ScalerInitHook')
        warnings.warn(
            f'{path} is a format-{version} {kind} file, sealed by no hash of '
            f'its header; re-make it in the current format: {how}',
            UserWarning)


def _split(tensors: Mapping[str, Tensor],
           kind: str) -> Dict[str, Dict[str, Tensor]]:
    out: Dict[str, Dict[str, Tensor]] = (
        dict(templates={}, scalers={}, extras={})
        if kind == 'templates' else dict(scalers={}))
    for key, value in tensors.items():
        prefix, _, name = key.partition('/')
        out[prefix][name] = value
    return out


def _write(path: str, kind: str, tensors: Dict[str, Tensor],
           meta: Dict[str, Any], inputs: Iterable[str]) -> str:
    header = dict(
        format=f'wave_mm.{kind}', format_version=FORMAT_VERSION, **meta)
    check_header(header, path, kind, FORMAT_VERSION, sealed=False)
    header['content_hash'] = content_hash(tensors, header)
    payload = save_safetensors(
        tensors, metadata={'wave_mm': json.dumps(header, allow_nan=False)})
    atomic_write(path, payload, inputs)
    return header['content_hash']


def _read(path: str, kind: str) -> Tuple[Dict[str, Any], Dict[str, Tensor]]:
    if not osp.isfile(path):
        raise TemplatesFileError(f'{kind} file not found: {path}')
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as err:
        raise TemplatesFileError(
            f'{path}: cannot read the {kind} file ({err.strerror})') from None
    outer = _safetensors_header(data, path, kind)
    meta = _wave_mm_header(outer, path, kind)
    check_tensor_entries(outer, path, kind)
    try:
        tensors = load_safetensors(data)
    except Exception as err:  # safetensors raises its own error types
        raise TemplatesFileError(
            f'{path}: the tensor data is corrupt or truncated '
            f'({type(err).__name__}: {str(err)[:200]})') from None
    return meta, tensors


def _safetensors_header(data: bytes, path: str, kind: str) -> Dict[str, Any]:
    # safetensors: an 8-byte little-endian header size, then JSON. The
    # size's first byte can be 0x80 or b'PK', so those magics mark a pickle
    # or zip only when no JSON header follows.
    size = struct.unpack('<Q', data[:8])[0] if len(data) >= 9 else 0
    if not (data[8:9] == b'{' and 0 < size <= min(len(data) - 8, _MAX_HEADER)):
        if data[:2] == b'PK' or data[:1] == b'\x80':
            raise TemplatesFileError(
                f'{path} is a pickled PyTorch checkpoint, not a wave_mm '
                f'{kind} file; it is not loaded (pickles can run code). '
                'Write templates with tools/export_templates.py.')
        raise TemplatesFileError(
            f'{path} is not a wave_mm {kind} file: no safetensors header '
            f'({len(data)} bytes; truncated, or another format)')
    return _json_object(data[8:8 + size], path, 'the safetensors header')


def _no_constant(name: str) -> None:
    raise ValueError(f'{name} is not JSON')


def _json_object(text: Any, path: str, what: str) -> Dict[str, Any]:
    """Strict JSON (no NaN or Infinity) that must be an object."""
    try:
        if isinstance(text, bytes):
            text = text.decode('utf-8')
        value = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError, MemoryError) as err:
        raise TemplatesFileError(f'{path}: {what} is not valid JSON '
                                 f'({type(err).__name__})') from None
    if not isinstance(value, dict):
        raise TemplatesFileError(f'{path}: {what} must be a JSON object, '
                                 f'got {type(value).__name__}')
    return value


def _wave_mm_header(outer: Mapping[str, Any], path: str,
                    kind: str) -> Dict[str, Any]:
    text = outer.get('__metadata__', {})
    text = text.get('wave_mm') if isinstance(text, dict) else None
    if not isinstance(text, str):
        raise TemplatesFileError(
            f'{path} is not a wave_mm {kind} file (its safetensors header '
            'has no wave_mm metadata)')
    meta = _json_object(text, path, 'the wave_mm header')
    if meta.get('format') != f'wave_mm.{kind}':
        raise TemplatesFileError(
            f'{path}: format is {meta.get("format")!r:.80}, expected '
            f"'wave_mm.{kind}'")
    version = meta.get('format_version')
    if not isinstance(version, int) or isinstance(version,
                                                  bool) or version < 1:
        raise TemplatesFileError(
            f'{path}: unknown format_version {version!r:.80}')
    if version > FORMAT_VERSION:
        raise TemplatesFileError(
            f'{path}: format_version {version} is newer than this wave_mm '
            f'reads ({FORMAT_VERSION}); upgrade wave_mm')
    return check_header(meta, path, kind, version)
