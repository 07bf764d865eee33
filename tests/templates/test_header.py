"""One validator for headers: every malformed header is a TemplatesFileError
that names the file and the key, never a crash."""
import copy
import json
import struct

import pytest
import torch
from safetensors.torch import save_file
from test_file import read_raw, tiny_templates

from wave_mm.templates import (TemplatesFileError, content_hash, load_scalers,
                               load_templates, save_scalers, save_templates)
from wave_mm.templates.format import Scalers


def write_with(path, meta, tensors, reseal=True):
    if reseal and isinstance(meta, dict):
        meta = dict(meta)
        try:
            meta['content_hash'] = content_hash(tensors, meta)
        except (TypeError, ValueError):
            pass
    text = meta if isinstance(meta, str) else json.dumps(meta)
    save_file(tensors, path, metadata={'wave_mm': text})


def nested(depth):
    value = 0
    for _ in range(depth):
        value = [value]
    return value


def _set(meta, keys, value):
    for key in keys[:-1]:
        meta = meta[key]
    if value is _DELETE:
        del meta[keys[-1]]
    else:
        meta[keys[-1]] = value


_DELETE = object()
BAD_TEMPLATES = [
    # (keys, value, words in the message)
    (('specs', ), [], 'specs must be a non-empty object'),
    (('specs', ), {}, 'specs must be a non-empty object'),
    (('specs', 'q'), 5, 'specs.q must be an object'),
    (('specs', 'q', 'count'), 0, r'specs.q.count must be an integer'),
    (('specs', 'q', 'count'), '2', r'specs.q.count must be an integer'),
    (('specs', 'q', 'count'), True, r'specs.q.count must be an integer'),
    (('specs', 'q', 'count'), 2**40, r'specs.q.count must be an integer'),
    (('specs', 'q', 'block'), [0, 4], r'specs.q.block must be'),
    (('specs', 'q', 'block'), [4, 4, 4], r'specs.q.block must be'),
    (('specs', 'q', 'block'), 'x', r'specs.q.block must be'),
    (('specs', 'q', 'block'), [4.0, 4], r'specs.q.block must be'),
    (('specs', 'q', 'init'), 'uniform', r'specs.q.init must be one of'),
    (('specs', 'q', 'extra'), 1, r'specs.q must be an object with'),
    (('specs', 'q', 'count'), _DELETE, r'specs.q must be an object with'),
    (('specs', 'Q!'), dict(block=[4], count=1), 'bad weight type name'),
    (('arch', ), 'vit', 'arch must have exactly the keys'),
    (('arch', 'embed_dims'), _DELETE, 'arch must have exactly the keys'),
    (('arch', 'extra'), 1, 'arch must have exactly the keys'),
    (('arch', 'embed_dims'), -8, r'arch.embed_dims must be an integer'),
    (('arch', 'num_layers'), 0, r'arch.num_layers must be an integer'),
    (('arch', 'num_heads'), None, r'arch.num_heads must be an integer'),
    (('arch', 'num_extra_tokens'), -1, 'arch.num_extra_tokens'),
    (('arch', 'patch_resolution'), [4], 'arch.patch_resolution must be'),
    (('arch', 'patch_resolution'), 4, 'arch.patch_resolution must be'),
    (('groups', ), 'attn', 'groups must be a list of distinct names'),
    (('groups', ), [1], 'groups must be a list of distinct names'),
    (('groups', ), ['attn', 'attn'], 'groups must be a list of distinct'),
    (('ancestry', ), 5, 'ancestry must be text'),
    (('ancestry', ), 'x' * 70000, 'ancestry must be text'),
    (('content_hash', ), 'xyz', 'content_hash must be 64 hex digits'),
    (('content_hash', ), _DELETE, "header has no 'content_hash'"),
    (('specs', ), _DELETE, "header has no 'specs'"),
    (('surprise', ), 1, r"unknown header keys \['surprise'\]"),
    (('arch', 'embed_dims'), nested(50), 'nested deeper'),
    (('format', ), 'wave_mm.scalers', "format is 'wave_mm.scalers'"),
    (('format', ), ['x'], 'format is'),
    (('kron_order', ), 'SS', "header kron_order must be one of .'ST', 'TS'."),
    (('kron_order', ), None, 'header kron_order must be one of'),
    (('kron_order', ), ['ST'], 'header kron_order must be one of'),
    (('specs', 'qkv'), dict(block=[4, 4],
                            count=2), r"specs has both 'qkv' and \['q'\]"),
    (('specs', 'qkv_bias'), dict(block=[4], count=2), 'missing key'),
]


@pytest.mark.parametrize('keys,value,words', BAD_TEMPLATES)
def test_malformed_templates_header(tmp_path, keys, value, words):
    path = str(tmp_path / 'bad.safetensors')
    save_templates(path, tiny_templates())
    meta, tensors = read_raw(path)
    meta = copy.deepcopy(meta)
    _set(meta, keys, value)
    write_with(path, meta, tensors, reseal=keys != ('content_hash', ))
    with pytest.raises(TemplatesFileError, match=words) as err:
        load_templates(path)
    assert path in str(err.value)


@pytest.mark.parametrize('text,words', [
    ('[1, 2]', 'must be a JSON object, got list'),
    ('"text"', 'must be a JSON object, got str'),
    ('null', 'must be a JSON object'),
    ('{not json', 'wave_mm header is not valid JSON'),
    ('{"ancestry": NaN}', 'wave_mm header is not valid JSON'),
    ('{"ancestry": -Infinity}', 'wave_mm header is not valid JSON'),
    ('[' * 100000 + ']' * 100000, 'not valid JSON|must be a JSON object'),
])
def test_header_that_is_not_an_object(tmp_path, text, words):
    path = str(tmp_path / 'bad.safetensors')
    save_templates(path, tiny_templates())
    _, tensors = read_raw(path)
    write_with(path, text, tensors)
    with pytest.raises(TemplatesFileError, match=words):
        load_templates(path)


@pytest.mark.parametrize('name,words', [
    ('other/q', "unexpected tensor 'other/q'"),
    ('templates/Q!', "unexpected tensor 'templates/Q!'"),
    ('templates/k', 'templates/k has no entry in header specs'),
    ('noslash', "unexpected tensor 'noslash'"),
])
def test_unexpected_tensors(tmp_path, name, words):
    path = str(tmp_path / 'bad.safetensors')
    save_templates(path, tiny_templates())
    meta, tensors = read_raw(path)
    tensors[name] = torch.zeros(2, 4, 4)
    write_with(path, meta, tensors)
    with pytest.raises(TemplatesFileError, match=words):
        load_templates(path)


def test_outer_header_faults(tmp_path):
    path = tmp_path / 'bad.safetensors'
    for body, words in [
        (b'[1]', 'no safetensors header'),
        (b'{"__metadata__": 5}', 'has no wave_mm metadata'),
        (b'{"__metadata__": {"wave_mm": 5}}', 'has no wave_mm metadata'),
        (b'{"x": ', 'safetensors header is not valid JSON'),
        (b'{\xff\xfe}', 'safetensors header is not valid JSON'),
    ]:
        path.write_bytes(struct.pack('<Q', len(body)) + body)
        with pytest.raises(TemplatesFileError, match=words):
            load_templates(str(path))


def test_wrong_scalers_shapes(tmp_path):
    path = str(tmp_path / 's.safetensors')
    arch = tiny_templates().arch
    save_scalers(path, Scalers({'q': torch.ones(1, 1, 1, 1)}, arch, 'a' * 64))
    meta, tensors = read_raw(path)
    for bad in (torch.ones(2), torch.ones(0, 1, 1), torch.ones(1, 1, 1, 1, 1)):
        write_with(path, meta, {'scalers/q': bad})
        with pytest.raises(TemplatesFileError, match='scalers/q has shape'):
            load_scalers(path)


def test_a_file_without_kron_order_reads_as_st(tmp_path):
    path = str(tmp_path / 'old.safetensors')
    save_templates(path, tiny_templates())
    meta, tensors = read_raw(path)
    assert meta['kron_order'] == 'ST'  # written since
    del meta['kron_order']  # as files written before it
    write_with(path, meta, tensors)
    data = load_templates(path)
    assert data.kron_order == 'ST'
    # Re-saved (tools/export_templates.py), it names its order.
    again = str(tmp_path / 'new.safetensors')
    save_templates(again, data, [path])
    assert read_raw(again)[0]['kron_order'] == 'ST'


def test_kron_order_is_sealed_and_round_trips(tmp_path):
    path = str(tmp_path / 'ts.safetensors')
    data = tiny_templates()
    data.kron_order = 'TS'
    digest = save_templates(path, data)
    assert load_templates(path).kron_order == 'TS'
    data.kron_order = 'ST'
    assert save_templates(str(tmp_path / 'st.safetensors'), data) != digest
    meta, tensors = read_raw(path)
    meta['kron_order'] = 'ST'
    write_with(path, meta, tensors, reseal=False)
    with pytest.raises(TemplatesFileError, match='content hash mismatch'):
        load_templates(path)


def test_fused_qkv_of_order_ts_has_rows_of_its_parts(tmp_path):
    path = str(tmp_path / 'bad.safetensors')
    save_templates(path, tiny_templates())
    meta, tensors = read_raw(path)
    meta['kron_order'] = 'TS'
    meta['specs'] = dict(qkv=dict(block=[4, 4], count=2))
    write_with(path, meta, tensors)
    with pytest.raises(
            TemplatesFileError,
            match=r'specs.qkv.block \[4, 4\]: with kron_order'):
        load_templates(path)
