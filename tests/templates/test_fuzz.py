"""Property-based fuzzing of the readers: random headers and random byte
flips, insertions and truncations of valid files. Every outcome is a load
equal to the original or a TemplatesFileError (``benchmarks/fuzz_readers.py``
runs the same at scale)."""
import json

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file
from test_file import read_raw, tiny_templates

from wave_mm.templates import (Scalers, TemplatesFileError, content_hash,
                               load_scalers, load_templates, save_scalers,
                               save_templates)

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


@pytest.fixture(scope='module')
def originals(tmp_path_factory):
    folder = tmp_path_factory.mktemp('fuzz')
    templates = str(folder / 't.safetensors')
    save_templates(templates, tiny_templates())
    scalers = str(folder / 's.safetensors')
    save_scalers(
        scalers,
        Scalers({'q': torch.randn(2, 2, 2, 2)},
                tiny_templates().arch, 'c' * 64))
    return {
        load_templates: (templates, open(templates, 'rb').read()),
        load_scalers: (scalers, open(scalers, 'rb').read()),
    }


def equal(a, b) -> bool:
    """Two loaded files hold the same tensors and header fields."""
    for key, value in vars(a).items():
        other = getattr(b, key)
        if isinstance(value, dict) and value and isinstance(
                next(iter(value.values())), torch.Tensor):
            if value.keys() != other.keys() or not all(
                    torch.equal(v, other[k]) for k, v in value.items()):
                return False
        elif value != other:
            return False
    return True


def check(load, path, data, original):
    with open(path, 'wb') as f:
        f.write(data)
    try:
        loaded = load(path)
    except TemplatesFileError:
        return
    assert equal(loaded, original), 'a mutated file loaded different data'


mutations = st.lists(
    st.tuples(
        st.sampled_from(['flip', 'insert', 'delete', 'truncate']),
        st.floats(0, 1, exclude_max=True), st.integers(0, 255)),
    min_size=1,
    max_size=4)


def mutate(data: bytes, ops) -> bytes:
    out = bytearray(data)
    for kind, where, byte in ops:
        at = int(where * len(out)) if out else 0
        if kind == 'flip' and out:
            out[at] ^= byte or 1
        elif kind == 'insert':
            out[at:at] = bytes([byte])
        elif kind == 'delete' and out:
            del out[at]
        elif kind == 'truncate':
            del out[at:]
    return bytes(out)


@FUZZ
@given(ops=mutations, which=st.sampled_from([0, 1]))
def test_byte_mutations(originals, tmp_path, ops, which):
    load = [load_templates, load_scalers][which]
    path, data = originals[load]
    original = load(path)
    check(load, str(tmp_path / 'm.safetensors'), mutate(data, ops), original)


@FUZZ
@given(header=json_values)
def test_random_headers(originals, tmp_path, header):
    path = str(tmp_path / 'h.safetensors')
    _, tensors = read_raw(originals[load_templates][0])
    save_file(tensors, path, metadata={'wave_mm': json.dumps(header)})
    with pytest.raises(TemplatesFileError):
        load_templates(path)


@FUZZ
@given(
    key=st.sampled_from(['specs', 'arch', 'groups', 'ancestry', 'format']),
    value=json_values,
    reseal=st.booleans())
def test_random_header_values(originals, tmp_path, key, value, reseal):
    """A valid header with one value replaced, its hash redone or not."""
    source = originals[load_templates][0]
    meta, tensors = read_raw(source)
    meta[key] = value
    if reseal:
        meta['content_hash'] = content_hash(tensors, meta)
    path = str(tmp_path / 'v.safetensors')
    save_file(tensors, path, metadata={'wave_mm': json.dumps(meta)})
    try:
        loaded = load_templates(path)
    except TemplatesFileError:
        return
    # Only a value that validates, sealed again, may load.
    assert reseal and loaded.content_hash == meta['content_hash']
