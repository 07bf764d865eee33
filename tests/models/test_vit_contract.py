"""The contract with mmpretrain's ``VisionTransformer``: for every arch of
its ``arch_zoo`` (shrunk for the CPU) and its options, ``WaveTemplate`` is a
stock ViT, ``WaveInit`` rebuilds it exactly, other targets are well formed,
and ``tools/wave_init.py`` agrees with ``WaveInit``."""
import os.path as osp
import runpy
import sys

import pytest
import torch
from mmpretrain.models.backbones import (DistilledVisionTransformer,
                                         VisionTransformer)
from mmpretrain.registry import MODELS

TOOLS = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'tools')
IMG, PATCH = 16, 4


def shrunk(settings: dict) -> dict:
    """An arch of the same head count and FFN ratio, 8 channels a head and
    2 layers."""
    heads = settings['num_heads']
    width = 8 * heads
    ratio = settings['feedforward_channels'] / settings['embed_dims']
    return dict(
        embed_dims=width,
        num_layers=2,
        num_heads=heads,
        feedforward_channels=round(ratio * width))


# One case per distinct arch of the zoo (aliases share settings).
ZOO = {}
for _name, _settings in VisionTransformer.arch_zoo.items():
    ZOO.setdefault(tuple(sorted(_settings.items())), _name)
ARCHS = sorted(ZOO.values())
OPTIONS = {
    'default': {},
    'no cls token': dict(with_cls_token=False, out_type='avg_featmap'),
    'raw': dict(out_type='raw'),
    'featmap': dict(out_type='featmap'),
    'no final norm': dict(final_norm=False),
    'pre norm': dict(pre_norm=True),
    'no qkv bias': dict(qkv_bias=False),
    'layer scale': dict(layer_scale_init_value=0.1),
    'bilinear': dict(interpolate_mode='bilinear'),
    'out indices': dict(out_indices=[0, 1]),
}


def build_aux(arch: dict, **options):
    torch.manual_seed(0)
    aux = MODELS.build(
        dict(
            type='WaveTemplate',
            arch=arch,
            img_size=IMG,
            patch_size=PATCH,
            template_width=arch['embed_dims'] // 2,
            num_templates=2,
            **options))
    aux.init_weights()
    aux.eval()
    return aux


def wave_init_vit(templates: str,
                  arch: dict,
                  cls=VisionTransformer,
                  **options) -> VisionTransformer:
    options.setdefault('img_size', IMG)
    vit = cls(
        arch=arch,
        patch_size=PATCH,
        init_cfg=dict(type='WaveInit', templates=templates),
        **options)
    vit.init_weights()
    vit.eval()
    return vit


def expected_shapes(vit: VisionTransformer, batch: int) -> tuple:
    """The shapes mmpretrain documents for ``vit.out_type``."""
    d = vit.embed_dims
    h, w = vit.patch_resolution
    return {
        'raw': (batch, h * w + vit.num_extra_tokens, d),
        'cls_token': (batch, d),
        'featmap': (batch, d, h, w),
        'avg_featmap': (batch, d),
    }[vit.out_type]


def check_outputs(vit: VisionTransformer, img_size) -> None:
    h, w = (img_size, img_size) if isinstance(img_size, int) else img_size
    with torch.no_grad():
        outs = vit(torch.randn(2, 3, h, w))
    assert len(outs) == len(vit.out_indices)
    for out in outs:
        parts = out if isinstance(out, tuple) else (out, )
        for part in parts:  # a distilled ViT gives (cls, dist) tokens
            assert tuple(part.shape) == expected_shapes(vit, 2)
            assert torch.isfinite(part).all()


def run_contract(arch: dict, options: dict, tmp_path) -> None:
    aux = build_aux(arch, **options)
    x = torch.randn(2, 3, IMG, IMG)
    # 1. WaveTemplate is the stock ViT loaded from to_vit_state_dict().
    stock = VisionTransformer(
        arch=arch, img_size=IMG, patch_size=PATCH, **options)
    stock.eval()
    stock.load_state_dict(aux.to_vit_state_dict(), strict=True)
    with torch.no_grad():
        for a, b in zip(aux(x), stock(x)):
            torch.testing.assert_close(a, b)
    # 2. WaveInit rebuilds the auxiliary's own arch.
    templates = str(tmp_path / 'templates.safetensors')
    aux.export_templates(templates)
    own = wave_init_vit(templates, arch, **options)
    for name, value in stock.state_dict().items():
        torch.testing.assert_close(own.state_dict()[name], value, msg=name)
    # 3. Other targets: deeper, wider, another head width, another image.
    heads, width = arch['num_heads'], arch['embed_dims']
    targets = [
        dict(arch=dict(arch, num_layers=3)),
        dict(
            arch=dict(
                arch,
                embed_dims=width * 3 // 2,
                feedforward_channels=arch['feedforward_channels'] * 3 // 2,
                num_heads=heads * 3 // 2 or 1)),
        dict(
            arch=dict(
                arch, embed_dims=width * 3 // 2, num_heads=max(heads //
                                                               2, 1))),
        dict(arch=arch, img_size=(IMG, 2 * IMG)),
    ]
    for target in targets:
        size = target.pop('img_size', IMG)
        vit = wave_init_vit(
            templates, target['arch'], img_size=size, **options)
        check_outputs(vit, size)
    # 4. tools/wave_init.py gives WaveInit's tensors.
    if options.get('with_cls_token', True) and not options:
        out = str(tmp_path / 'init.pth')
        argv = sys.argv
        sys.argv = [
            'wave_init.py', templates, '--arch',
            str(dict(arch, num_layers=3)).replace("'", '"'), '--out', out
        ]
        try:
            runpy.run_path(
                osp.join(TOOLS, 'wave_init.py'), run_name='__main__')
        finally:
            sys.argv = argv
        state = torch.load(out, weights_only=True)['state_dict']
        vit = wave_init_vit(templates, dict(arch, num_layers=3))
        for name, value in vit.state_dict().items():
            torch.testing.assert_close(state[f'backbone.{name}'], value)


@pytest.mark.parametrize('zoo_name', ARCHS)
def test_every_arch_of_the_zoo(zoo_name, tmp_path):
    run_contract(shrunk(VisionTransformer.arch_zoo[zoo_name]), {}, tmp_path)


@pytest.mark.parametrize('option', sorted(OPTIONS))
def test_every_option(option, tmp_path):
    run_contract(
        shrunk(VisionTransformer.arch_zoo['deit-s']), OPTIONS[option],
        tmp_path)


def test_class_token_dropped_and_distillation_token_derived(tmp_path):
    arch = shrunk(VisionTransformer.arch_zoo['deit-s'])
    aux = build_aux(arch)
    templates = str(tmp_path / 't.safetensors')
    aux.export_templates(templates)
    state = aux.to_vit_state_dict()
    # A target without class token: the class token's slot is dropped.
    plain = wave_init_vit(
        templates, arch, with_cls_token=False, out_type='avg_featmap')
    torch.testing.assert_close(plain.pos_embed, state['pos_embed'][:, 1:])
    check_outputs(plain, IMG)
    # DeiT's distilled ViT: the distillation token and its position slot
    # are the class token's.
    deit = wave_init_vit(templates, arch, cls=DistilledVisionTransformer)
    torch.testing.assert_close(deit.dist_token, state['cls_token'])
    torch.testing.assert_close(deit.pos_embed[:, :2],
                               state['pos_embed'][:, :1].expand(1, 2, -1))
    torch.testing.assert_close(deit.pos_embed[:, 2:], state['pos_embed'][:,
                                                                         1:])
    check_outputs(deit, IMG)


@pytest.mark.parametrize('target,words', [
    (dict(patch_size=8), 'serve targets with patch_size=4 and in_channels=3'),
    (dict(in_channels=1), 'serve targets with patch_size=4 and in_channels=3'),
    (dict(
        arch=dict(
            embed_dims=16, num_layers=2, num_heads=2,
            feedforward_channels=64)), 'serve widths >= 24'),
])
def test_targets_the_templates_cannot_serve(target, words, tmp_path):
    arch = shrunk(VisionTransformer.arch_zoo['deit-s'])
    templates = str(tmp_path / 't.safetensors')
    build_aux(arch).export_templates(templates)
    options = dict(dict(arch=arch, img_size=IMG, patch_size=PATCH), **target)
    vit = VisionTransformer(
        init_cfg=dict(type='WaveInit', templates=templates), **options)
    with pytest.raises(ValueError, match=words):
        vit.init_weights()


def test_an_auxiliary_narrower_than_its_templates_is_refused():
    with pytest.raises(ValueError, match='Set template_width to at most 32'):
        MODELS.build(
            dict(
                type='WaveTemplate',
                arch=dict(
                    embed_dims=32,
                    num_layers=1,
                    num_heads=2,
                    feedforward_channels=64),
                img_size=IMG,
                patch_size=PATCH))
    for width in (192, 384, 768):  # the DeiT family at the default width
        arch = dict(
            embed_dims=width,
            num_layers=1,
            num_heads=width // 64,
            feedforward_channels=4 * width)
        MODELS.build(
            dict(
                type='WaveTemplate', arch=arch, img_size=IMG,
                patch_size=PATCH))


def test_pretrained_on_a_wave_template_is_refused(tmp_path):
    aux = MODELS.build(
        dict(
            type='WaveTemplate',
            arch=shrunk(VisionTransformer.arch_zoo['deit-s']),
            img_size=IMG,
            patch_size=PATCH,
            template_width=24,
            init_cfg=dict(type='Pretrained', checkpoint='vit.pth')))
    with pytest.raises(ValueError, match='init_cfg=Pretrained would load'):
        aux.init_weights()


def test_wave_template_loads_its_checkpoint_at_another_image_size():
    arch = shrunk(VisionTransformer.arch_zoo['deit-s'])
    small = build_aux(arch)
    big = MODELS.build(
        dict(
            type='WaveTemplate',
            arch=arch,
            img_size=2 * IMG,
            patch_size=PATCH,
            template_width=arch['embed_dims'] // 2,
            num_templates=2))
    big.load_state_dict(small.state_dict(), strict=True)
    # As a stock ViT resizes its pos_embed on load.
    stock = VisionTransformer(arch=arch, img_size=2 * IMG, patch_size=PATCH)
    stock.load_state_dict(small.to_vit_state_dict(), strict=True)
    torch.testing.assert_close(big.to_vit_state_dict()['pos_embed'],
                               stock.pos_embed.detach())


def test_layer_wise_lr_decay_tells_the_layers_apart():
    from mmpretrain.engine.optimizers import \
        LearningRateDecayOptimWrapperConstructor as Constructor
    arch = dict(shrunk(VisionTransformer.arch_zoo['deit-s']), num_layers=3)
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(
                type='WaveTemplate',
                arch=arch,
                img_size=IMG,
                patch_size=PATCH,
                template_width=24,
                num_templates=2),
            head=dict(
                type='VisionTransformerClsHead',
                num_classes=3,
                in_channels=arch['embed_dims'])))
    wrapper = Constructor(
        dict(optimizer=dict(type='AdamW', lr=1.0, weight_decay=0.05)),
        dict(layer_decay_rate=0.5))(
            model)
    lr = {
        group['param_name']: group['lr']
        for group in wrapper.optimizer.param_groups
    }
    # depth d of 5 (stem, 3 layers, the rest) gets 0.5 ** (4 - d).
    for layer in range(3):
        assert lr[f'backbone.bank.scalers.qkv.{layer}'] == 0.5**(3 - layer)
    assert lr['backbone.bank.templates.qkv'] == 0.5**4  # shared: the stem's
    assert lr['backbone.bank.scalers.pos_embed.0'] == 0.5**4
    assert lr['backbone.bank.scalers.norm_weight.0'] == 1.0
    assert lr['head.layers.head.weight'] == 1.0
