import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.runner import Runner
from mmpretrain.registry import MODELS
from wave_helpers import (TINY_AUX, classifier_with_init, tiny_classifier_cfg,
                          tiny_runner_cfg)

from wave_mm.models import TLEGInit, TLEGTemplate, WaveTemplate
from wave_mm.models.backbones.tleg_template import TLEG_ANCESTRY
from wave_mm.templates import load_templates

ARCH = TINY_AUX['arch']  # 4 layers, width 64
X = torch.randn(2, 3, 16, 16)


def tleg_cfg(**kwargs) -> dict:
    return dict(
        type='TLEGTemplate', arch=ARCH, img_size=16, patch_size=4, **kwargs)


def vit_cfg(num_layers=4, **kwargs) -> dict:
    return dict(
        type='VisionTransformer',
        arch=dict(ARCH, num_layers=num_layers),
        img_size=16,
        patch_size=4,
        **kwargs)


@pytest.fixture
def tleg() -> TLEGTemplate:
    torch.manual_seed(0)
    model = MODELS.build(tleg_cfg())
    model.init_weights()
    with torch.no_grad():  # non-trivial embeddings, to see them copied
        model.pos_embed.normal_(0, 0.02)
    model.eval()
    return model


@pytest.fixture
def tleg_file(tleg, tmp_path) -> str:
    path = str(tmp_path / 'tleg.safetensors')
    tleg.export_templates(path, ancestry='unit test')
    return path


def _expected_layer(bank, name, layer, depth):
    theta_a, theta_b = bank.templates[name].detach()
    return theta_a + layer / depth * theta_b


def test_layers_are_linear_expansion(tleg):
    state = tleg.to_vit_state_dict()
    bank = tleg.bank
    assert bank.templates['fc1'].shape == (2, 256, 64)
    assert 'pos_embed' in dict(tleg.named_parameters())
    for i in range(4):
        q, k, v = (_expected_layer(bank, t, i + 1, 4) for t in 'qkv')
        torch.testing.assert_close(state[f'layers.{i}.attn.qkv.weight'],
                                   torch.cat([q, k, v]))
        torch.testing.assert_close(
            state[f'layers.{i}.ln2.weight'],
            _expected_layer(bank, 'ln2_weight', i + 1, 4))
    # Final norm: one template, the tensor itself.
    assert bank.templates['norm_weight'].shape == (1, 64)
    torch.testing.assert_close(state['ln1.weight'],
                               bank.templates['norm_weight'][0].detach())
    assert (state['layers.3.ln1.weight'] - 1).abs().max() < 0.2


def test_scalers_fixed_through_optimizer_step():
    torch.manual_seed(0)
    model = MODELS.build(tiny_classifier_cfg(tleg_cfg()))
    model.init_weights()
    wrapper = build_optim_wrapper(
        model, dict(optimizer=dict(type='AdamW', lr=0.1, weight_decay=0.5)))
    bank = model.backbone.bank
    scalers = {k: v.clone() for k, v in bank.scalers.items()}
    templates = bank.templates['q'].detach().clone()
    # MMEngine hands requires_grad=False parameters to the optimizer too.
    grouped = [p for g in wrapper.optimizer.param_groups for p in g['params']]
    assert any(p is bank.scalers.layers('q')[0] for p in grouped)
    wrapper.backward(model.extract_feat(X)[0].square().mean())
    assert bank.templates['q'].grad.abs().sum() > 0
    for name, value in bank.scalers.items():
        assert not value.requires_grad and value.grad is None, name
    wrapper.step()
    for name, value in bank.scalers.items():
        assert torch.equal(value, scalers[name]), name
    assert not torch.equal(bank.templates['q'], templates)


def test_export_marks_tleg(tleg_file):
    data = load_templates(tleg_file)
    assert data.ancestry.startswith(TLEG_ANCESTRY)
    assert data.ancestry.endswith('unit test')
    assert set(data.extras) == {
        'cls_token', 'pos_embed', 'patch_embed.projection.weight',
        'patch_embed.projection.bias'
    }


@pytest.mark.parametrize('where', ['backbone', 'model'])
def test_own_depth_reproduces_auxiliary(tleg, tleg_file, where):
    model = classifier_with_init(vit_cfg(),
                                 dict(type='TLEGInit', templates=tleg_file),
                                 where)
    vit = model.backbone
    vit.eval()
    with torch.no_grad():
        torch.testing.assert_close(vit(X)[0], tleg(X)[0], atol=1e-6, rtol=0)
    for name, value in tleg.to_vit_state_dict().items():
        torch.testing.assert_close(
            vit.state_dict()[name], value, atol=1e-6, rtol=0)


@pytest.mark.parametrize('depth', [2, 7])
def test_other_depth_gets_expansion(tleg, tleg_file, depth):
    vit = MODELS.build(
        vit_cfg(depth, init_cfg=dict(type='TLEGInit', templates=tleg_file)))
    vit.init_weights()
    state, bank = vit.state_dict(), tleg.bank
    for i in range(depth):
        torch.testing.assert_close(state[f'layers.{i}.attn.proj.weight'],
                                   _expected_layer(bank, 'proj', i + 1, depth))
        torch.testing.assert_close(
            state[f'layers.{i}.ffn.layers.0.0.bias'],
            _expected_layer(bank, 'fc1_bias', i + 1, depth))
    for name in ('pos_embed', 'cls_token', 'patch_embed.projection.weight',
                 'ln1.weight'):
        assert torch.equal(state[name], tleg.to_vit_state_dict()[name]), name


def test_new_patch_grid_resizes_pos_embed(tleg_file):
    vit = MODELS.build(
        dict(
            vit_cfg(3, init_cfg=dict(type='TLEGInit', templates=tleg_file)),
            img_size=24))
    vit.init_weights()
    assert vit.pos_embed.shape == (1, 37, 64)


@pytest.mark.parametrize('arch,key', [
    (dict(embed_dims=32, num_heads=2,
          feedforward_channels=128), 'embed_dims=64, the target 32'),
    (dict(num_heads=4), 'num_heads=2, the target 4'),
    (dict(feedforward_channels=128), 'feedforward_channels=256'),
])
def test_width_mismatch_names_file_and_key(tleg_file, arch, key):
    cfg = vit_cfg(init_cfg=dict(type='TLEGInit', templates=tleg_file))
    cfg['arch'] = dict(cfg['arch'], **arch)
    with pytest.raises(ValueError, match=key) as err:
        MODELS.build(cfg).init_weights()
    assert tleg_file in str(err.value)


def test_wave_templates_rejected(templates_file):
    cfg = vit_cfg(init_cfg=dict(type='TLEGInit', templates=templates_file))
    with pytest.raises(ValueError, match='not a TLEG templates file'):
        MODELS.build(cfg).init_weights()


def test_values_survive_runner_start(tleg, tleg_file, tmp_path):
    """init_weights with the DeiT recipe on the model, FFN xavier and the
    pos_embed re-draw leave every TLEG tensor as composed."""
    model = tiny_classifier_cfg(
        vit_cfg(6, init_cfg=dict(type='TLEGInit', templates=tleg_file)),
        init_cfg=[
            dict(type='TruncNormal', layer='Linear', std=.02),
            dict(type='Constant', layer='LayerNorm', val=1., bias=0.)
        ])
    runner = Runner.from_cfg(Config(tiny_runner_cfg(model, str(tmp_path))))
    runner._init_model_weights()
    state = runner.model.backbone.state_dict()
    torch.testing.assert_close(state['layers.5.ffn.layers.1.weight'],
                               _expected_layer(tleg.bank, 'fc2', 6, 6))
    assert torch.equal(state['pos_embed'], tleg.pos_embed.detach())


def test_bad_arguments():
    with pytest.raises(TypeError, match='num_templates'):
        TLEGTemplate(arch=ARCH, img_size=16, patch_size=4, num_templates=3)
    for option in (dict(kron_order='TS'), dict(fused_qkv=True)):
        with pytest.raises(TypeError, match=next(iter(option))):
            TLEGTemplate(arch=ARCH, img_size=16, patch_size=4, **option)
    with pytest.raises(ValueError, match='embeddings are copied'):
        TLEGTemplate(
            arch=ARCH, img_size=16, patch_size=4, templated=('embed', ))


def test_registered_with_and_without_default_scope():
    from mmengine.registry import WEIGHT_INITIALIZERS as ROOT
    from mmpretrain.registry import WEIGHT_INITIALIZERS
    assert ROOT.get('TLEGInit') is TLEGInit
    assert WEIGHT_INITIALIZERS.get('TLEGInit') is TLEGInit
    assert MODELS.get('TLEGTemplate') is TLEGTemplate


def test_rebuilt_from_checkpoint_as_tleg(tleg, tmp_path):
    """``WaveTemplate.from_checkpoint`` (and so tools/export_templates.py)
    rebuilds a TLEG auxiliary as a TLEGTemplate."""
    ckpt = str(tmp_path / 'tleg.pth')
    config = str(tmp_path / 'tleg_cfg.py')
    Config(dict(model=dict(backbone=tleg_cfg()))).dump(config)
    torch.save(
        {
            'state_dict': {
                f'backbone.{k}': v
                for k, v in tleg.state_dict().items()
            }
        }, ckpt)
    rebuilt = WaveTemplate.from_checkpoint(ckpt, config)
    assert type(rebuilt) is TLEGTemplate
    for name, value in tleg.state_dict().items():
        assert torch.equal(rebuilt.state_dict()[name], value), name
