"""ViTLayout: composed weights land on a stock ViT's state dict."""
import dataclasses

import pytest
import torch
from mmpretrain.models.backbones import VisionTransformer

from wave_mm.core import ALL_GROUPS, ViTLayout, group_types
from wave_mm.templates import ViTArch

ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def _weights(layout, block=(1, )):
    """Random ``[L_t, *shape]`` weights for every type of ``layout``."""
    out = {}
    for t in layout.types:
        shape = layout.shape(t, (layout.arch.num_tokens, ) +
                             block if t == 'pos_embed' else block)
        out[t] = torch.randn(layout.depth(t), *shape)
    return out


@pytest.mark.parametrize('options', [
    {},
    dict(qkv_bias=False),
    dict(final_norm=False),
    dict(with_cls_token=False, out_type='avg_featmap'),
])
def test_state_dict_loads_strictly_into_the_vit(options):
    vit = VisionTransformer(arch=ARCH, img_size=8, patch_size=4, **options)
    layout = ViTLayout(vit)
    state = layout.to_state_dict(_weights(layout))
    assert sorted(state) == layout.param_names()
    vit.load_state_dict({**vit.state_dict(), **state}, strict=True)
    if options.get('qkv_bias') is False:
        assert 'q_bias' not in layout.types
    if options.get('final_norm') is False:
        assert 'norm_weight' not in layout.types
    if 'with_cls_token' in options:
        assert 'cls_token' not in layout.types


def test_qkv_is_q_k_v_stacked():
    vit = VisionTransformer(arch=ARCH, img_size=8, patch_size=4)
    layout = ViTLayout(vit, ['attn'])
    weights = _weights(layout)
    state = layout.to_state_dict(weights)
    qkv = state['layers.1.attn.qkv.weight']
    assert torch.equal(qkv,
                       torch.cat([weights[t][1] for t in ('q', 'k', 'v')]))
    assert layout.types == ('q', 'k', 'v', 'proj')


def test_fused_qkv_is_mmpretrains_tensor():
    vit = VisionTransformer(arch=ARCH, img_size=8, patch_size=4)
    types = group_types(ALL_GROUPS, fused=True)
    layout = ViTLayout(vit, ALL_GROUPS, available=types)
    assert {'qkv', 'qkv_bias'} <= set(layout.types)
    assert not {'q', 'k', 'v', 'q_bias'} & set(layout.types)
    assert layout.shape('qkv', (1, 1)) == (96, 32)
    state = vit.state_dict()
    weights = layout.from_state_dict(state)
    assert torch.equal(weights['qkv'][1], state['layers.1.attn.qkv.weight'])
    back = layout.to_state_dict(weights)
    for name, value in back.items():
        assert torch.equal(value, state[name]), name
    with pytest.raises(ValueError, match="'qkv'.* and \\['q'\\] together"):
        ViTLayout(vit, ALL_GROUPS, available=types + ['q'])


def test_available_types_and_unknown_groups():
    vit = VisionTransformer(arch=ARCH, img_size=8, patch_size=4)
    layout = ViTLayout(vit, ALL_GROUPS, available=['proj', 'q', 'k'])
    # qkv needs all of q, k and v: only proj is laid out.
    assert layout.types == ('proj', )
    assert layout.per_layer('proj') and layout.depth('proj') == 2
    with pytest.raises(ValueError, match="unknown template groups"):
        ViTLayout(vit, ['attn', 'heads'])


def test_position_embedding_is_resized_to_the_patch_grid():
    vit = VisionTransformer(arch=ARCH, img_size=16, patch_size=4)
    source = dataclasses.replace(
        ViTArch.from_vit(vit), patch_resolution=(2, 2))
    layout = ViTLayout(vit, ['embed'], source=source)
    pos = torch.randn(1, 5, 32)  # a 2x2 grid and the class token
    out = layout.to_state_dict({
        'pos_embed': pos,
        'patch_embed': torch.randn(1, 32, 48),
        'patch_embed_bias': torch.randn(1, 32),
        'cls_token': torch.randn(1, 32)
    })
    assert out['pos_embed'].shape == (1, 17, 32)
    assert out['patch_embed.projection.weight'].shape == (32, 3, 4, 4)
    assert out['cls_token'].shape == (1, 1, 32)


@pytest.mark.parametrize('options', [{}, dict(qkv_bias=False)])
def test_from_state_dict_inverts_to_state_dict(options):
    vit = VisionTransformer(arch=ARCH, img_size=8, patch_size=4, **options)
    layout = ViTLayout(vit)
    weights = _weights(layout)
    back = layout.from_state_dict(layout.to_state_dict(weights))
    assert back.keys() == weights.keys()
    for name, value in weights.items():
        torch.testing.assert_close(back[name], value, msg=name)
    other = VisionTransformer(
        arch=dict(ARCH, num_layers=1), img_size=8, patch_size=4)
    with pytest.raises(ValueError, match="ckpt: no 'layers.1"):
        layout.from_state_dict(other.state_dict(), 'ckpt')
