"""Templates and scalers files: round trips, integrity, format versions."""
import json
import struct

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from wave_mm.templates import (FORMAT_VERSION, Scalers, Templates,
                               TemplatesFileError, TemplateSpec, content_hash,
                               load_scalers, load_templates, save_scalers,
                               save_templates)

ARCH = dict(
    embed_dims=8,
    num_layers=2,
    num_heads=2,
    feedforward_channels=16,
    patch_size=2,
    in_channels=1,
    patch_resolution=[2, 2],
    num_extra_tokens=1)


def tiny_templates(**extras) -> Templates:
    """A small hand-made templates file's contents."""
    torch.manual_seed(0)
    return Templates(
        specs={
            'q': TemplateSpec((4, 4), 2),
            'ln1_weight': TemplateSpec((4, ), 2, 'ones')
        },
        templates={
            'q': torch.randn(2, 4, 4),
            'ln1_weight': torch.randn(2, 4)
        },
        scalers={
            'q': torch.randn(2, 2, 2, 2),
            'ln1_weight': torch.randn(2, 2, 2)
        },
        extras=dict(extras, **{'cls_token': torch.randn(1, 1, 8)}),
        arch=dict(ARCH),
        groups=['attn', 'norm'],
        ancestry='hand made')


def read_raw(path):
    with safe_open(path, 'pt') as f:
        meta = json.loads(f.metadata()['wave_mm'])
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    return meta, tensors


def rewrite(path, mutate_tensors=None, mutate_meta=None):
    """Re-save a file with edited tensors or header, keeping its hash."""
    meta, tensors = read_raw(path)
    if mutate_tensors:
        mutate_tensors(tensors)
    if mutate_meta:
        mutate_meta(meta)
    save_file(tensors, path, metadata={'wave_mm': json.dumps(meta)})


def test_round_trip(aux, templates_file):
    data = load_templates(templates_file)
    assert data.ancestry == 'unit test'
    assert data.arch['embed_dims'] == 64 and data.arch['num_layers'] == 4
    assert set(data.specs) == set(aux.bank.specs)
    for name, spec in aux.bank.specs.items():
        assert data.specs[name] == spec
        assert torch.equal(data.templates[name], aux.bank.templates[name])
        assert torch.equal(data.scalers[name], aux.bank.scalers[name])
    assert len(data.content_hash) == 64
    assert read_raw(templates_file)[0]['format_version'] == FORMAT_VERSION


def test_missing_file(tmp_path):
    with pytest.raises(TemplatesFileError, match='not found.*nope'):
        load_templates(str(tmp_path / 'nope.safetensors'))


def test_pickled_checkpoint_is_refused_without_unpickling(tmp_path):
    path = str(tmp_path / 'model.pth')
    torch.save({'state_dict': {'w': torch.zeros(1)}}, path)
    with pytest.raises(TemplatesFileError, match='model.pth is a pickled'):
        load_templates(path)


def test_plain_safetensors_checkpoint(tmp_path):
    path = str(tmp_path / 'weights.safetensors')
    save_file({'backbone.w': torch.zeros(2)}, path)
    with pytest.raises(TemplatesFileError, match='not a wave_mm templates'):
        load_templates(path)


def test_garbage_file(tmp_path):
    path = tmp_path / 'x.safetensors'
    path.write_bytes(struct.pack('<Q', 10**15) + b'junk')
    with pytest.raises(TemplatesFileError, match='x.safetensors is not a wa'):
        load_templates(str(path))


def test_truncated_file(tmp_path):
    path = str(tmp_path / 't.safetensors')
    save_templates(path, tiny_templates())
    data = open(path, 'rb').read()
    for cut in (4, 20, len(data) // 2, len(data) - 1):
        with open(path, 'wb') as f:
            f.write(data[:cut])
        with pytest.raises(TemplatesFileError, match='t.safetensors'):
            load_templates(path)


@pytest.mark.parametrize('version,match', [(99, 'newer'), ('x', 'unknown'),
                                           (True, 'unknown'), (0, 'unknown')])
def test_format_versions(templates_file, version, match):
    rewrite(
        templates_file, mutate_meta=lambda m: m.update(format_version=version))
    with pytest.raises(TemplatesFileError, match=match):
        load_templates(templates_file)


def test_scalers_round_trip_and_kind(tmp_path):
    path = str(tmp_path / 's.safetensors')
    digest = save_scalers(
        path, Scalers({'q': torch.ones(1, 1, 1, 1)}, dict(ARCH), 'a' * 64))
    with pytest.raises(TemplatesFileError, match="expected 'wave_mm.templ"):
        load_templates(path)
    scalers = load_scalers(path)
    assert scalers.scalers['q'].shape == (1, 1, 1, 1)
    assert scalers.templates_hash == 'a' * 64
    assert scalers.content_hash == digest


def test_scalers_must_name_their_templates(tmp_path):
    path = str(tmp_path / 's.safetensors')
    with pytest.raises(TemplatesFileError, match='templates_hash must be'):
        save_scalers(path, Scalers({'q': torch.ones(1, 1, 1, 1)}, dict(ARCH)))
    assert not (tmp_path / 's.safetensors').exists()


def test_missing_key(templates_file):
    rewrite(templates_file, lambda t: t.pop('scalers/fc1'))
    with pytest.raises(TemplatesFileError, match='missing key scalers/fc1'):
        load_templates(templates_file)


def test_wrong_shape(templates_file):

    def shrink(t):
        t['templates/q'] = t['templates/q'][:, :4].contiguous()

    rewrite(templates_file, shrink)
    with pytest.raises(TemplatesFileError, match='templates/q has shape'):
        load_templates(templates_file)


def test_nan(templates_file):

    def poison(t):
        t['templates/fc2'][0, 0, 0] = float('nan')

    rewrite(templates_file, poison)
    with pytest.raises(TemplatesFileError, match='templates/fc2 contains NaN'):
        load_templates(templates_file)


def test_content_hash_mismatch(templates_file):

    def nudge(t):
        t['templates/q'][0, 0, 0] += 1

    rewrite(templates_file, nudge)
    with pytest.raises(TemplatesFileError, match='hash mismatch'):
        load_templates(templates_file)


@pytest.mark.parametrize('edit', [
    lambda m: m['arch'].update(num_layers=3),
    lambda m: m['arch'].update(patch_resolution=[1, 4]),
    lambda m: m.update(groups=['attn']),
    lambda m: m['specs']['q'].update(init='zeros'),
    lambda m: m.update(ancestry='someone else'),
])
def test_the_hash_covers_the_header(tmp_path, edit):
    path = str(tmp_path / 't.safetensors')
    save_templates(path, tiny_templates())
    rewrite(path, mutate_meta=edit)
    with pytest.raises(TemplatesFileError, match='hash mismatch'):
        load_templates(path)


def test_the_hash_covers_the_scalers_file(tmp_path):
    path = str(tmp_path / 's.safetensors')
    save_scalers(path,
                 Scalers({'q': torch.ones(1, 1, 1, 1)}, dict(ARCH), 'a' * 64))
    rewrite(path, mutate_meta=lambda m: m.update(templates_hash='b' * 64))
    with pytest.raises(TemplatesFileError, match='hash mismatch'):
        load_scalers(path)
    save_scalers(path,
                 Scalers({'q': torch.ones(1, 1, 1, 1)}, dict(ARCH), 'a' * 64))
    rewrite(path, lambda t: t['scalers/q'].mul_(2))
    with pytest.raises(TemplatesFileError, match='hash mismatch'):
        load_scalers(path)


def _save_v1(path, data: Templates):
    """A templates file as format 1 wrote it: the hash covers tensors."""
    tensors = {
        f'{kind}/{k}': v.float().contiguous()
        for kind, group in (('templates', data.templates),
                            ('scalers', data.scalers), ('extras', data.extras))
        for k, v in group.items()
    }
    specs = {
        k: dict(block=list(s.block), count=s.count, init=s.init)
        for k, s in data.specs.items()
    }
    meta = dict(
        format='wave_mm.templates',
        format_version=1,
        specs=specs,
        arch=data.arch,
        groups=data.groups,
        ancestry=data.ancestry,
        content_hash=content_hash(tensors))
    save_file(tensors, path, metadata={'wave_mm': json.dumps(meta)})


def test_format_1_loads_with_a_warning(tmp_path):
    path = str(tmp_path / 'v1.safetensors')
    original = tiny_templates()
    _save_v1(path, original)
    with pytest.warns(
            UserWarning, match='format-1 templates.*export_templates.py'):
        data = load_templates(path)
    for name in original.templates:
        assert torch.equal(data.templates[name], original.templates[name])
    rewrite(path, lambda t: t['templates/q'].add_(1))
    with pytest.raises(TemplatesFileError, match='hash mismatch'):
        load_templates(path)


def test_format_1_scalers_load_with_a_warning(tmp_path):
    path = str(tmp_path / 's1.safetensors')
    meta = dict(
        format='wave_mm.scalers',
        format_version=1,
        arch=ARCH,
        templates_hash='')
    save_file({'scalers/q': torch.ones(1, 1, 1, 1)},
              path,
              metadata={'wave_mm': json.dumps(meta)})
    with pytest.warns(UserWarning, match='format-1 scalers.*ScalerInitHook'):
        assert load_scalers(path).templates_hash == ''


@pytest.mark.parametrize('dtype', [
    torch.int64, torch.int32, torch.bool, torch.uint8, torch.float8_e4m3fn,
    torch.complex64
])
def test_only_floating_dtypes(tmp_path, dtype):
    path = str(tmp_path / 't.safetensors')
    save_templates(path, tiny_templates())

    def retype(t):
        t['extras/cls_token'] = torch.zeros(1, 1, 8).to(dtype)

    rewrite(path, retype)
    with pytest.raises(
            TemplatesFileError, match='extras/cls_token has dtype .*floating'):
        load_templates(path)


@pytest.mark.parametrize('dtype',
                         [torch.float16, torch.bfloat16, torch.float64])
def test_other_floating_dtypes_load(tmp_path, dtype):
    path = str(tmp_path / 't.safetensors')
    original = tiny_templates()
    save_templates(path, original)
    meta, tensors = read_raw(path)
    tensors['extras/cls_token'] = tensors['extras/cls_token'].to(dtype)
    meta['content_hash'] = content_hash(tensors, meta)
    save_file(tensors, path, metadata={'wave_mm': json.dumps(meta)})
    assert load_templates(path).extras['cls_token'].dtype == dtype


def test_zero_dim_extras(tmp_path):
    """A head with BatchNorm has a 0-dim ``num_batches_tracked``."""
    path = str(tmp_path / 't.safetensors')
    save_templates(
        path,
        tiny_templates(**{'head.bn.num_batches_tracked': torch.tensor(7)}))
    head = load_templates(path).head()
    assert head['bn.num_batches_tracked'].shape == ()
    assert head['bn.num_batches_tracked'].item() == 7


def test_save_refuses_to_overwrite_its_input(tmp_path):
    path = str(tmp_path / 't.safetensors')
    save_templates(path, tiny_templates())
    before = open(path, 'rb').read()
    with pytest.raises(ValueError, match='is the input'):
        save_templates(path, load_templates(path), inputs=[path])
    assert open(path, 'rb').read() == before
