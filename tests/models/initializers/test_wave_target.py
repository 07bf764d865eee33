"""WaveTarget: a stock ViT's Kronecker view built from a templates file."""
import copy
import json

import pytest
import torch
from mmpretrain.registry import MODELS
from safetensors import safe_open
from safetensors.torch import save_file
from wave_helpers import TINY_AUX, tiny_vit_cfg

from wave_mm.models import WaveTarget
from wave_mm.templates import (Scalers, TemplatesFileError, content_hash,
                               load_templates)


def test_the_auxiliary_arch_reproduces_the_auxiliary(aux, templates_file):
    vit = MODELS.build(tiny_vit_cfg())
    target = WaveTarget(vit, load_templates(templates_file))
    expected = aux.to_vit_state_dict()
    state = target.state_dict_for_vit()
    assert state.keys() == expected.keys()
    for name, value in expected.items():
        torch.testing.assert_close(state[name], value, msg=name)
    assert target.bank.num_scalers() == aux.bank.num_scalers()
    assert not any(p.requires_grad for p in target.bank.templates.values())


def _edited(path, tmp_path, edit):
    with safe_open(path, 'pt') as f:
        meta = json.loads(f.metadata()['wave_mm'])
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    meta = copy.deepcopy(meta)
    edit(meta, tensors)
    meta['content_hash'] = content_hash(tensors, meta)
    out = str(tmp_path / 'edited.safetensors')
    save_file(tensors, out, metadata={'wave_mm': json.dumps(meta)})
    return load_templates(out)


@pytest.mark.parametrize('edit,words', [
    (lambda m, t: m.update(groups=['attn', 'heads']), 'unknown template'),
    (lambda m, t: (m['specs']['pos_embed'].update(block=[7, 32]),
                   t.update({'templates/pos_embed': torch.zeros(3, 7, 32)})),
     'specs.pos_embed.block'),
    (lambda m, t: (m['specs']['ln1_weight'].update(block=[32, 32]),
                   t.update({
                       'templates/ln1_weight': torch.zeros(3, 32, 32),
                       'scalers/ln1_weight': torch.zeros(4, 3, 2, 2)
                   })), 'specs.ln1_weight.block'),
    (lambda m, t: (m['specs']['patch_embed'].update(block=[32]),
                   t.update({
                       'templates/patch_embed': torch.zeros(3, 32),
                       'scalers/patch_embed': torch.zeros(1, 3, 2)
                   })), 'specs.patch_embed.block'),
    (lambda m, t: (m['specs'].update(qq=dict(block=[4], count=1)),
                   t.update({
                       'templates/qq': torch.zeros(1, 4),
                       'scalers/qq': torch.zeros(1, 1, 1)
                   })), 'specs.qq: unknown weight type'),
])
def test_file_faults_name_the_file(templates_file, tmp_path, edit, words):
    templates = _edited(templates_file, tmp_path, edit)
    with pytest.raises(TemplatesFileError, match=words):
        WaveTarget(MODELS.build(tiny_vit_cfg()), templates, source='F')


def test_missing_types_are_left_to_the_stock_init(templates_file, tmp_path):

    def drop_q(meta, tensors):
        meta['specs'].pop('q')
        tensors.pop('templates/q')
        tensors.pop('scalers/q')

    target = WaveTarget(
        MODELS.build(tiny_vit_cfg()), _edited(templates_file, tmp_path,
                                              drop_q))
    # qkv needs q, k and v: none of them is composed.
    assert not {'q', 'k', 'v'} & set(target.layout.types)
    assert 'layers.0.attn.qkv.weight' not in target.state_dict_for_vit()


def test_scalers_must_fit_the_target(templates_file):
    templates = load_templates(templates_file)
    vit = MODELS.build(tiny_vit_cfg())
    own = WaveTarget(vit, templates).scalers_data()
    assert own.templates_hash == templates.content_hash
    missing = Scalers({
        k: v
        for k, v in own.scalers.items() if k != 'q'
    }, own.arch, own.templates_hash)
    with pytest.raises(
            TemplatesFileError, match="S: scalers for weight "
            "type 'q' missing"):
        WaveTarget(vit, templates, missing, scalers_source='S')
    other = Scalers(own.scalers, own.arch, 'f' * 64)
    with pytest.raises(TemplatesFileError, match='fitted to templates f'):
        WaveTarget(vit, templates, other, scalers_source='S')


def test_head_follows_the_width(aux, tmp_path):
    path = str(tmp_path / 't.safetensors')
    aux.export_templates(path, head={'layers.head.weight': torch.randn(3, 64)})
    wide = dict(TINY_AUX['arch'], embed_dims=96, num_heads=3)
    target = WaveTarget(MODELS.build(tiny_vit_cfg(wide)), load_templates(path))
    assert target.head_state()['layers.head.weight'].shape == (3, 96)


def test_a_head_of_another_width_is_refused(aux, tmp_path):
    path = str(tmp_path / 't.safetensors')
    for width in (0, 5):
        aux.export_templates(
            path, head={'layers.head.weight': torch.ones(3, width)})
        target = WaveTarget(
            MODELS.build(tiny_vit_cfg()), load_templates(path), source='F')
        with pytest.raises(
                TemplatesFileError,
                match=r'F: extras/head.layers.head.weight has'):
            target.head_state()
