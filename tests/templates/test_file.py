import json
import struct

import pytest
import torch
from safetensors.torch import save_file

from wave_mm.templates import (Scalers, TemplatesFileError, load_scalers,
                               load_templates, save_scalers)


def _rewrite(path, mutate_tensors=None, mutate_meta=None):
    """Re-save a templates file with edited tensors or header."""
    from safetensors import safe_open
    with safe_open(path, 'pt') as f:
        meta = json.loads(f.metadata()['wave_mm'])
        tensors = {k: f.get_tensor(k) for k in f.keys()}
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
    with pytest.raises(TemplatesFileError, match='not a wave_mm'):
        load_templates(str(path))


@pytest.mark.parametrize('version,match', [(99, 'newer'), ('x', 'unknown')])
def test_format_versions(templates_file, version, match):
    _rewrite(
        templates_file, mutate_meta=lambda m: m.update(format_version=version))
    with pytest.raises(TemplatesFileError, match=match):
        load_templates(templates_file)


def test_scalers_file_is_not_a_templates_file(tmp_path):
    path = str(tmp_path / 's.safetensors')
    save_scalers(path, Scalers({'q': torch.zeros(1, 1, 1, 1)}, {}))
    with pytest.raises(TemplatesFileError, match="expected 'wave_mm.templ"):
        load_templates(path)
    assert load_scalers(path).scalers['q'].shape == (1, 1, 1, 1)


def test_missing_key(templates_file):
    _rewrite(templates_file, lambda t: t.pop('scalers/fc1'))
    with pytest.raises(TemplatesFileError, match='missing key scalers/fc1'):
        load_templates(templates_file)


def test_wrong_shape(templates_file):

    def shrink(t):
        t['templates/q'] = t['templates/q'][:, :4].contiguous()

    _rewrite(templates_file, shrink)
    with pytest.raises(TemplatesFileError, match='templates/q has shape'):
        load_templates(templates_file)


def test_nan(templates_file):

    def poison(t):
        t['templates/fc2'][0, 0, 0] = float('nan')

    _rewrite(templates_file, poison)
    with pytest.raises(TemplatesFileError, match='templates/fc2 contains NaN'):
        load_templates(templates_file)


def test_content_hash_mismatch(templates_file):

    def nudge(t):
        t['templates/q'][0, 0, 0] += 1

    _rewrite(templates_file, nudge)
    with pytest.raises(TemplatesFileError, match='hash mismatch'):
        load_templates(templates_file)


def test_failed_write_keeps_existing_file(aux, templates_file, monkeypatch):
    before = open(templates_file, 'rb').read()

    def boom(*args, **kwargs):
        raise RuntimeError('disk full')

    monkeypatch.setattr('wave_mm.templates.file.save_file', boom)
    with pytest.raises(RuntimeError, match='disk full'):
        aux.export_templates(templates_file)
    assert open(templates_file, 'rb').read() == before
