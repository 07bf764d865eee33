"""The command-line tools, run in-process through ``runpy``."""
import os.path as osp
import runpy
import sys

import pytest
import torch
from mmengine.config import Config
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.registry import MODELS
from wave_helpers import TINY_AUX, tiny_classifier_cfg, tiny_vit_cfg

from wave_mm.models import WaveTarget
from wave_mm.templates import load_templates

TOOLS = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'tools')
ARCH = dict(embed_dims=96, num_layers=5, num_heads=3, feedforward_channels=384)


def run_tool(name, *args):
    argv = sys.argv
    sys.argv = [name, *map(str, args)]
    try:
        runpy.run_path(osp.join(TOOLS, name), run_name='__main__')
    finally:
        sys.argv = argv


def test_wave_init_tool_equals_wave_init(templates_file, tmp_path):
    out = tmp_path / 'init.pth'
    run_tool(
        'wave_init.py', templates_file, '--arch',
        '{"embed_dims": 96, "num_layers": 5, "num_heads": 3, '
        '"feedforward_channels": 384}', '--num-classes', 7, '--out', out)
    ckpt = torch.load(out, weights_only=True)
    vit = MODELS.build(tiny_vit_cfg(ARCH))
    expected = WaveTarget(vit, load_templates(templates_file)) \
        .state_dict_for_vit()
    for name, value in expected.items():
        assert torch.equal(ckpt['state_dict'][f'backbone.{name}'], value)
    assert ckpt['state_dict']['head.layers.head.weight'].shape == (7, 96)
    # A stock config loads it, as load_from would (strictly here).
    model = MODELS.build(
        tiny_classifier_cfg(tiny_vit_cfg(ARCH), num_classes=7))
    model.load_state_dict(ckpt['state_dict'], strict=True)
    # ... and as the backbone's Pretrained init_cfg.
    backbone = MODELS.build(
        tiny_vit_cfg(
            ARCH,
            init_cfg=dict(
                type='Pretrained', checkpoint=str(out), prefix='backbone.')))
    backbone.init_weights()
    assert torch.equal(backbone.state_dict()['pos_embed'],
                       expected['pos_embed'])


def test_wave_init_tool_rejects_bad_templates(tmp_path):
    bad = tmp_path / 'bad.pth'
    torch.save({'state_dict': {}}, bad)
    with pytest.raises(ValueError, match='pickled'):
        run_tool('wave_init.py', bad, '--arch', 'deit-tiny', '--out',
                 tmp_path / 'x.pth')
    assert not osp.exists(tmp_path / 'x.pth')


@pytest.fixture
def distill_ckpt(aux, tmp_path):
    """A stage-1 style checkpoint: config text in meta, plus a teacher."""
    backbone = dict(type='WaveTemplate', **TINY_AUX)
    cfg = Config(dict(model=dict(type='ImageClassifier', backbone=backbone)))
    state = {f'backbone.{k}': v for k, v in aux.state_dict().items()}
    state['teacher.w'] = torch.zeros(1)
    path = tmp_path / 'epoch_1.pth'
    torch.save(
        dict(meta=dict(cfg=cfg.pretty_text), state_dict=state, optimizer={}),
        path)
    return path


def test_export_templates_tool(aux, distill_ckpt, templates_file, tmp_path):
    out = tmp_path / 'exported.safetensors'
    run_tool('export_templates.py', distill_ckpt, '--out', out, '--ancestry',
             'unit test')
    exported, direct = load_templates(str(out)), load_templates(templates_file)
    assert exported.content_hash == direct.content_hash


def test_strip_teacher_to_vit(aux, distill_ckpt, tmp_path):
    out = tmp_path / 'student.pth'
    run_tool('strip_teacher.py', distill_ckpt, '--out', out, '--to-vit')
    ckpt = torch.load(out, weights_only=True)
    assert set(ckpt) == {'state_dict', 'meta'}
    state = ckpt['state_dict']
    assert not any(k.startswith('teacher.') for k in state)
    vit = VisionTransformer(arch=TINY_AUX['arch'], img_size=16, patch_size=4)
    vit.load_state_dict({k[9:]: v for k, v in state.items()}, strict=True)
    vit.eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(vit(x)[0], aux(x)[0], atol=1e-5, rtol=0)


def test_wave_init_tool_names_a_malformed_arch(templates_file, tmp_path):
    with pytest.raises(SystemExit, match='--arch is not a JSON object'):
        run_tool('wave_init.py', templates_file, '--arch', '{"embed_dims":',
                 '--out', tmp_path / 'x.pth')
    assert not (tmp_path / 'x.pth').exists()
