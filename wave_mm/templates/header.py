"""The one validator of templates and scalers file headers.

Everything a header says is checked here, before any of it is used: types,
ranges, required and unknown keys and nesting depth; and, once the tensors
are read, that they are floating point, finite and shaped as the header
says. Every fault is a :class:`TemplatesFileError` naming the file and key.
"""
import re
from dataclasses import fields
from typing import Any, Dict, Mapping, Tuple

import torch
from torch import Tensor

from wave_mm.fileio import TemplatesFileError
from wave_mm.kronecker import DEFAULT_ORDER, KRON_ORDERS
from .arch import ViTArch
from .format import FUSED_TYPES, INIT_KINDS, TemplateSpec

#: safetensors dtypes a templates or scalers file may hold.
FLOAT_DTYPES = ('F16', 'BF16', 'F32', 'F64')
#: Tensor name prefixes by file kind.
TENSOR_KINDS = {
    'templates': ('templates', 'scalers', 'extras'),
    'scalers': ('scalers', ),
}
MAX_DEPTH = 6
_LIMIT = 1 << 20  # largest width, count or grid side a header may name
_HASH = re.compile(r'[0-9a-f]{64}')
_TYPE = re.compile(r'[a-z][a-z0-9_]{0,63}')
_NAME = re.compile(r'[A-Za-z0-9_.\-]{1,256}')
# Header keys by file kind; format 1 files may lack those in _OPTIONAL_V1,
# any file those in _OPTIONAL (written since, with a default of old files).
_KEYS = {
    'templates': ('format', 'format_version', 'specs', 'arch', 'groups',
                  'ancestry', 'content_hash', 'kron_order'),
    'scalers':
    ('format', 'format_version', 'arch', 'templates_hash', 'content_hash'),
}
_OPTIONAL_V1 = {'content_hash', 'templates_hash', 'groups', 'ancestry'}
_OPTIONAL = {'kron_order'}


def check_header(meta: Any,
                 path: str,
                 kind: str,
                 version: int,
                 sealed: bool = True) -> Dict[str, Any]:
    """Validate a parsed ``wave_mm`` header (format and version already
    read) and return it; ``sealed=False`` for one about to be written,
    which has no ``content_hash`` yet."""
    _check_depth(meta, path, 'header', 0)
    allowed = _KEYS[kind]
    unknown = sorted(set(meta) - set(allowed))
    if unknown:
        raise TemplatesFileError(f'{path}: unknown header keys {unknown}')
    for key in allowed:
        optional = (
            key in _OPTIONAL or version == 1 and key in _OPTIONAL_V1
            or not sealed and key == 'content_hash')
        if key not in meta and not optional:
            raise TemplatesFileError(f'{path}: header has no {key!r}')
    check_arch(meta['arch'], path)
    if kind == 'templates':
        specs = meta['specs']
        if not isinstance(specs, dict) or not specs:
            raise TemplatesFileError(
                f'{path}: header specs must be a non-empty object')
        order = meta.get('kron_order', DEFAULT_ORDER)
        if order not in KRON_ORDERS:
            raise TemplatesFileError(
                f'{path}: header kron_order must be one of '
                f'{list(KRON_ORDERS)}, got {order!r:.80}')
        parsed = {
            name: parse_spec(name, spec, path)
            for name, spec in specs.items()
        }
        check_fused(parsed, order, path)
        groups = meta.get('groups', [])
        if not (isinstance(groups, list) and all(
                isinstance(g, str) and _TYPE.fullmatch(g)
                for g in groups) and len(set(groups)) == len(groups)):
            raise TemplatesFileError(
                f'{path}: header groups must be a list of distinct names, '
                f'got {groups!r:.200}')
        _check_str(meta.get('ancestry', ''), path, 'ancestry', 1 << 16)
    for key in ('content_hash', 'templates_hash'):
        value = meta.get(key, '')
        if key in meta and not (version == 1 and value == ''):
            if not (isinstance(value, str) and _HASH.fullmatch(value)):
                raise TemplatesFileError(
                    f'{path}: header {key} must be 64 hex digits, got '
                    f'{value!r:.80}')
    return meta


def check_fused(specs: Mapping[str, TemplateSpec], order: str,
                path: str) -> None:
    """A fused type (:data:`FUSED_TYPES`) and its parts are not both there;
    a fused matrix of the order ``'TS'`` has template rows of its parts."""
    for fused, parts in FUSED_TYPES.items():
        mixed = sorted(set(parts) & set(specs))
        if fused in specs and mixed:
            raise TemplatesFileError(
                f'{path}: header specs has both {fused!r} and {mixed}; a '
                f'file holds {fused} fused or {list(parts)} apart, not both')
        block = specs[fused].block if fused in specs else ()
        if order == 'TS' and block and block[0] % len(parts):
            raise TemplatesFileError(
                f'{path}: header specs.{fused}.block {list(block)}: with '
                f"kron_order 'TS' its rows are its {len(parts)} parts' "
                f'template rows, a multiple of {len(parts)}')


def check_arch(arch: Any, path: str) -> None:
    """A :meth:`ViTArch.as_dict`: every field, positive integers."""
    names = [f.name for f in fields(ViTArch)]
    if not isinstance(arch, dict) or set(arch) != set(names):
        got = sorted(arch) if isinstance(arch, dict) else type(arch).__name__
        raise TemplatesFileError(
            f'{path}: header arch must have exactly the keys {names}, got '
            f'{got}')
    for name in names:
        value = arch[name]
        if name == 'patch_resolution':
            if not (isinstance(value, list) and len(value) == 2
                    and all(_is_int(v, 1) for v in value)):
                raise TemplatesFileError(
                    f'{path}: header arch.patch_resolution must be two '
                    f'positive integers, got {value!r:.80}')
        elif not _is_int(value, 0 if name == 'num_extra_tokens' else 1):
            raise TemplatesFileError(
                f'{path}: header arch.{name} must be an integer in '
                f'[{0 if name == "num_extra_tokens" else 1}, {_LIMIT}], got '
                f'{value!r:.80}')


def parse_spec(name: Any, spec: Any, path: str) -> TemplateSpec:
    """One ``specs`` entry as a :class:`TemplateSpec`."""
    where = f'{path}: header specs.{name}'
    if not (isinstance(name, str) and _TYPE.fullmatch(name)):
        raise TemplatesFileError(f'{path}: header specs has a bad weight '
                                 f'type name {name!r:.80}')
    if not isinstance(spec, dict) or not {'block', 'count'} <= set(spec) \
            or set(spec) - {'block', 'count', 'init'}:
        raise TemplatesFileError(
            f'{where} must be an object with block, count and init')
    block, count = spec['block'], spec['count']
    if not (isinstance(block, list) and len(block) in (1, 2)
            and all(_is_int(b, 1) for b in block)):
        raise TemplatesFileError(
            f'{where}.block must be 1 or 2 positive integers, got '
            f'{block!r:.80}')
    if not _is_int(count, 1):
        raise TemplatesFileError(
            f'{where}.count must be an integer in [1, {_LIMIT}], got '
            f'{count!r:.80}')
    init = spec.get('init', 'normal')
    if init not in INIT_KINDS:
        raise TemplatesFileError(
            f'{where}.init must be one of {list(INIT_KINDS)}, got '
            f'{init!r:.80}')
    return TemplateSpec(tuple(block), count, init)


def check_tensor_entries(header: Mapping[str, Any], path: str,
                         kind: str) -> None:
    """The safetensors header's own entries: names and floating dtypes."""
    for key, entry in header.items():
        if key == '__metadata__':
            continue
        prefix, _, name = key.partition('/')
        if prefix not in TENSOR_KINDS[kind] or not name or not _NAME.fullmatch(
                name) or (prefix != 'extras' and not _TYPE.fullmatch(name)):
            raise TemplatesFileError(
                f'{path}: unexpected tensor {key!r:.80} in a {kind} file')
        dtype = entry.get('dtype') if isinstance(entry, dict) else None
        if dtype not in FLOAT_DTYPES:
            raise TemplatesFileError(
                f'{path}: tensor {key} has dtype {dtype!r:.20}; only '
                f'floating point ({", ".join(FLOAT_DTYPES)}) is allowed')


def check_tensors(path: str, specs: Mapping[str, TemplateSpec],
                  groups: Mapping[str, Mapping[str,
                                               Tensor]], kind: str) -> None:
    """Finite values and shapes that agree with ``specs``."""
    for prefix, tensors in groups.items():
        for name, value in tensors.items():
            if not value.is_floating_point():
                raise TemplatesFileError(
                    f'{path}: {prefix}/{name} is {value.dtype}, not floating')
            # Finite in float32 too: the bank composes in float32.
            if not torch.isfinite(value.float()).all():
                raise TemplatesFileError(
                    f'{path}: {prefix}/{name} contains NaN or Inf (or values '
                    'beyond float32)')
    if kind == 'scalers':
        for name, value in groups['scalers'].items():
            if value.ndim not in (3, 4) or 0 in value.shape:
                raise TemplatesFileError(
                    f'{path}: scalers/{name} has shape {tuple(value.shape)}'
                    ', expected [layers, templates, grid of 1 or 2 dims]')
        return
    for prefix in ('templates', 'scalers'):
        extra = sorted(set(groups[prefix]) - set(specs))
        if extra:
            raise TemplatesFileError(
                f'{path}: {prefix}/{extra[0]} has no entry in header specs')
    for name, spec in specs.items():
        for prefix in ('templates', 'scalers'):
            if name not in groups[prefix]:
                raise TemplatesFileError(f'{path}: missing key {prefix}/'
                                         f'{name}')
        _check_shapes(path, name, spec, groups['templates'][name],
                      groups['scalers'][name])


def _check_shapes(path: str, name: str, spec: TemplateSpec, templates: Tensor,
                  scalers: Tensor) -> None:
    expected: Tuple[int, ...] = (spec.count, *spec.block)
    if tuple(templates.shape) != expected:
        raise TemplatesFileError(
            f'{path}: templates/{name} has shape {tuple(templates.shape)}, '
            f'the header says {expected}')
    if (scalers.ndim != 2 + len(spec.block) or scalers.shape[1] != spec.count
            or 0 in scalers.shape):
        raise TemplatesFileError(
            f'{path}: scalers/{name} has shape {tuple(scalers.shape)}, '
            f'expected [layers, {spec.count}, grid of {len(spec.block)} dims]')


def _check_depth(value: Any, path: str, where: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise TemplatesFileError(
            f'{path}: {where} is nested deeper than {MAX_DEPTH} levels')
    if isinstance(value, dict):
        for key, item in value.items():
            _check_depth(item, path, f'{where}.{key}', depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_depth(item, path, f'{where}[{i}]', depth + 1)


def _check_str(value: Any, path: str, key: str, limit: int) -> None:
    if not isinstance(value, str) or len(value) > limit:
        raise TemplatesFileError(
            f'{path}: header {key} must be text of at most {limit} '
            f'characters, got {type(value).__name__}')


def _is_int(value: Any, low: int) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)
            and low <= value <= _LIMIT)
