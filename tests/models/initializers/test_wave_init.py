import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.registry import MODELS
from wave_helpers import (classifier_with_init, tiny_classifier_cfg,
                          tiny_runner_cfg, tiny_vit_cfg)

from wave_mm.kronecker import compose
from wave_mm.models import WaveInit, WaveTarget
from wave_mm.templates import (Scalers, TemplatesFileError, load_templates,
                               save_scalers)

X = torch.randn(2, 3, 16, 16)


def _outputs(module):
    module.eval()
    with torch.no_grad():
        return module(X)[0]


@pytest.mark.parametrize('where', ['backbone', 'model'])
def test_auxiliary_arch_reproduces_auxiliary(aux, templates_file, where):
    model = classifier_with_init(
        tiny_vit_cfg(), dict(type='WaveInit', templates=templates_file), where)
    torch.testing.assert_close(
        _outputs(model.backbone), _outputs(aux), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    'arch', [
        dict(
            embed_dims=32, num_layers=2, num_heads=1,
            feedforward_channels=128),
        dict(
            embed_dims=96, num_layers=6, num_heads=3,
            feedforward_channels=384),
        dict(
            embed_dims=80, num_layers=3, num_heads=5,
            feedforward_channels=200),
    ],
    ids=['narrow-shallow', 'wide-deep', 'non-multiple'])
def test_other_sizes_get_composed_weights(templates_file, arch):
    vit = MODELS.build(tiny_vit_cfg(arch, img_size=24))
    target = WaveTarget(vit, load_templates(templates_file))
    expected = target.state_dict_for_vit()
    vit.init_cfg = dict(type='WaveInit', templates=templates_file)
    vit.init_weights()
    state = vit.state_dict()
    for name, value in expected.items():
        assert torch.equal(state[name], value), name
    assert state['pos_embed'].shape == (1, 37, arch['embed_dims'])


def test_values_survive_runner_start(templates_file, tmp_path):
    """init_weights, the rank-0 broadcast, FFN xavier re-init and the
    pos_embed re-draw must leave every WaveInit tensor as generated."""
    backbone = tiny_vit_cfg(
        init_cfg=dict(type='WaveInit', templates=templates_file))
    model = tiny_classifier_cfg(
        backbone,
        # mmpretrain's DeiT recipe puts these on the whole model.
        init_cfg=[
            dict(type='TruncNormal', layer='Linear', std=.02),
            dict(type='Constant', layer='LayerNorm', val=1., bias=0.)
        ])
    runner = Runner.from_cfg(Config(tiny_runner_cfg(model, str(tmp_path))))
    runner._init_model_weights()
    vit = MODELS.build(tiny_vit_cfg())
    expected = WaveTarget(vit, load_templates(templates_file)) \
        .state_dict_for_vit()
    state = runner.model.backbone.state_dict()
    for name, value in expected.items():
        assert torch.equal(state[name], value), name
    assert state['pos_embed'].abs().sum() > 0


def test_init_log_credits_wave_init(templates_file, capsys):
    from mmengine.logging import MMLogger
    logger = MMLogger.get_instance('init_log', log_level='INFO')
    model = MODELS.build(
        tiny_classifier_cfg(
            tiny_vit_cfg(
                init_cfg=dict(type='WaveInit', templates=templates_file))))
    records = []
    handler = type('H', (__import__('logging').Handler, ), {
        'emit': lambda self, r: records.append(r.getMessage())
    })()
    logger.addHandler(handler)
    try:
        with __import__('unittest').mock.patch(
                'mmengine.logging.MMLogger.get_current_instance',
                return_value=logger):
            model.init_weights()
    finally:
        logger.removeHandler(handler)
    text = '\n'.join(records)
    assert 'backbone.layers.0.attn.qkv.weight' in text
    block = text.split('backbone.layers.0.attn.qkv.weight')[1][:300]
    assert 'WaveInit' in block and templates_file in block


def _init(vit_cfg, templates, scalers=None):
    vit_cfg['init_cfg'] = dict(
        type='WaveInit', templates=templates, scalers=scalers)
    MODELS.build(vit_cfg).init_weights()


def test_error_missing_file(tmp_path):
    with pytest.raises(TemplatesFileError, match='not found'):
        _init(tiny_vit_cfg(), str(tmp_path / 'missing.safetensors'))


def test_error_unsafe_file(tmp_path):
    path = str(tmp_path / 'evil.pth')
    torch.save({'x': 1}, path)
    with pytest.raises(TemplatesFileError, match='pickled'):
        _init(tiny_vit_cfg(), path)


def test_error_patch_size(templates_file):
    with pytest.raises(ValueError, match='patch_size=2'):
        _init(tiny_vit_cfg(patch_size=2), templates_file)


def test_error_in_channels(templates_file):
    with pytest.raises(ValueError, match='in_channels=1'):
        _init(tiny_vit_cfg(in_channels=1), templates_file)


def test_error_width_below_block(templates_file):
    arch = dict(
        embed_dims=16, num_layers=2, num_heads=1, feedforward_channels=64)
    with pytest.raises(ValueError, match='smaller than one template block'):
        _init(tiny_vit_cfg(arch), templates_file)


def test_error_heads_not_dividing_width(templates_file):
    arch = dict(
        embed_dims=64, num_layers=2, num_heads=3, feedforward_channels=64)
    with pytest.raises(ValueError, match='not divisible by its 3 heads'):
        _init(tiny_vit_cfg(arch), templates_file)


def test_scalers_file_round_trip_and_wrong_arch(templates_file, tmp_path):
    arch = dict(
        embed_dims=96, num_layers=2, num_heads=3, feedforward_channels=384)
    vit = MODELS.build(tiny_vit_cfg(arch))
    target = WaveTarget(vit, load_templates(templates_file))
    with torch.no_grad():
        for p in target.bank.scalers.values():
            p.mul_(1.5)
    path = str(tmp_path / 'scalers.safetensors')
    save_scalers(path, target.scalers_data())
    cfg = tiny_vit_cfg(arch)
    cfg['init_cfg'] = dict(
        type='WaveInit', templates=templates_file, scalers=path)
    vit = MODELS.build(cfg)
    vit.init_weights()
    for name, value in target.state_dict_for_vit().items():
        torch.testing.assert_close(vit.state_dict()[name], value)
    with pytest.raises(
            TemplatesFileError,
            match=r'scalers.safetensors: .*num_layers=2 .target 4'):
        _init(tiny_vit_cfg(), templates_file, path)


def test_scalers_for_other_templates(templates_file, tmp_path):
    data = load_templates(templates_file)
    path = str(tmp_path / 'scalers.safetensors')
    save_scalers(path, Scalers(data.scalers, data.arch, 'f' * 64))
    with pytest.raises(TemplatesFileError, match='fitted to templates'):
        _init(tiny_vit_cfg(), templates_file, path)


def test_wave_init_on_non_vit(templates_file):
    cfg = dict(
        type='ImageClassifier',
        backbone=dict(type='ResNet', depth=18),
        init_cfg=dict(type='WaveInit', templates=templates_file))
    with pytest.raises(TypeError, match='VisionTransformer'):
        MODELS.build(cfg).init_weights()


def test_registered_with_and_without_default_scope():
    from mmengine.registry import WEIGHT_INITIALIZERS as ROOT
    from mmpretrain.registry import WEIGHT_INITIALIZERS
    assert ROOT.get('WaveInit') is WaveInit
    assert WEIGHT_INITIALIZERS.get('WaveInit') is WaveInit
    assert MODELS.get('WaveTemplate') is not None


def _head_templates(aux, tmp_path):
    """A templates file that stores a 3-class head of the auxiliary."""
    torch.manual_seed(1)
    head = dict(
        **{
            'layers.head.weight': torch.randn(3, 64),
            'layers.head.bias': torch.randn(3)
        })
    path = str(tmp_path / 'with_head.safetensors')
    aux.export_templates(path, head=head)
    return path, head


@pytest.mark.parametrize('width,heads', [(64, 2), (32, 1), (96, 3)])
def test_head_from_templates(aux, tmp_path, width, heads):
    path, head = _head_templates(aux, tmp_path)
    arch = dict(
        embed_dims=width,
        num_layers=3,
        num_heads=heads,
        feedforward_channels=4 * width)
    model = MODELS.build(
        tiny_classifier_cfg(
            tiny_vit_cfg(arch),
            init_cfg=dict(type='WaveInit', templates=path, head=True)))
    model.init_weights()
    weight = model.head.layers.head.weight
    source = head['layers.head.weight']
    if width == 64:
        torch.testing.assert_close(weight, source)
    elif width == 32:  # crop: the first template block of channels
        torch.testing.assert_close(weight, source[:, :32])
    else:  # 3 blocks of 32 from 2: cyclic, scaled to keep the logits
        expected = torch.cat([source, source[:, :32]], 1) * (64 / 96)
        torch.testing.assert_close(weight, expected)
    torch.testing.assert_close(model.head.layers.head.bias,
                               head['layers.head.bias'])


def test_head_errors(aux, templates_file, tmp_path):
    model = MODELS.build(
        tiny_classifier_cfg(
            tiny_vit_cfg(),
            init_cfg=dict(
                type='WaveInit', templates=templates_file, head=True)))
    with pytest.raises(ValueError, match='stores no classifier head'):
        model.init_weights()
    path, _ = _head_templates(aux, tmp_path)
    model = MODELS.build(
        tiny_classifier_cfg(
            tiny_vit_cfg(),
            num_classes=5,
            init_cfg=dict(type='WaveInit', templates=path, head=True)))
    with pytest.raises(ValueError, match='does not fit the target head'):
        model.init_weights()


def test_scaled_rule_keeps_the_function_at_twice_the_width(aux, tmp_path):
    """Width 128 from 64 (blocks of 32 repeated twice): with the 'scaled'
    rule every reader divides by 2, so the wide classifier computes the
    auxiliary classifier's logits."""
    path, head = _head_templates(aux, tmp_path)
    arch = dict(
        embed_dims=128, num_layers=4, num_heads=4, feedforward_channels=512)
    wide = MODELS.build(
        tiny_classifier_cfg(
            tiny_vit_cfg(arch),
            init_cfg=dict(type='WaveInit', templates=path, head=True)))
    wide.init_weights()
    own = MODELS.build(
        tiny_classifier_cfg(
            tiny_vit_cfg(),
            init_cfg=dict(type='WaveInit', templates=path, head=True)))
    own.init_weights()
    # Computed in float64, so that what is left is the float32 rounding of
    # the generated weights (about 2e-7), not that of the forward pass.
    wide.double().eval(), own.double().eval()
    with torch.no_grad():
        torch.testing.assert_close(
            wide(X.double(), mode='tensor'),
            own(X.double(), mode='tensor'),
            atol=1e-6,
            rtol=0)
    crop = MODELS.build(
        tiny_classifier_cfg(
            tiny_vit_cfg(arch),
            init_cfg=dict(
                type='WaveInit', templates=path, head=True,
                width_rule='crop')))
    crop.init_weights()
    crop.double().eval()
    with torch.no_grad():
        assert not torch.allclose(
            crop(X.double(), mode='tensor'),
            own(X.double(), mode='tensor'),
            atol=1e-3)


def test_depth_rules(templates_file):
    """'first': a shallower target is the auxiliary's first layers;
    'interp': its layers sit at evenly spread relative depths."""
    aux = load_templates(templates_file)
    arch = dict(
        embed_dims=64, num_layers=2, num_heads=2, feedforward_channels=256)
    for rule, layers in (('first', [0, 1]), ('interp', [0, 3])):
        vit = MODELS.build(tiny_vit_cfg(arch))
        state = WaveTarget(vit, aux, depth_rule=rule).state_dict_for_vit()
        for i, src in enumerate(layers):
            expected = compose(aux.scalers['fc1'][src:src + 1],
                               aux.templates['fc1'], (256, 64))[0]
            torch.testing.assert_close(
                state[f'layers.{i}.ffn.layers.0.0.weight'], expected)
    with pytest.raises(ValueError, match="depth rule must be 'first'"):
        WaveTarget(MODELS.build(tiny_vit_cfg(arch)), aux, depth_rule='x')
