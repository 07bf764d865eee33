"""The table of weight types: what each type is in a stock ViT."""
import pytest
from mmpretrain.models.backbones import VisionTransformer

from wave_mm.core import (GROUPS, WEIGHT_TYPES, default_specs, input_width,
                          residual_block)
from wave_mm.core.weight_types import weight_shape
from wave_mm.templates import TemplateSpec, ViTArch

ARCH = dict(embed_dims=64, num_layers=2, num_heads=2, feedforward_channels=96)


@pytest.fixture(scope='module')
def vit():
    return VisionTransformer(arch=ARCH, img_size=16, patch_size=4)


def test_groups_are_the_table_read_by_group():
    assert GROUPS == {
        'attn': ('q', 'k', 'v', 'qkv', 'proj'),
        'ffn': ('fc1', 'fc2'),
        'bias': ('q_bias', 'k_bias', 'v_bias', 'qkv_bias', 'proj_bias',
                 'fc1_bias', 'fc2_bias'),
        'norm': ('ln1_weight', 'ln1_bias', 'ln2_weight', 'ln2_bias',
                 'norm_weight', 'norm_bias'),
        'embed': ('patch_embed', 'patch_embed_bias', 'pos_embed', 'cls_token'),
    }


def test_every_type_names_a_stock_vit_tensor_of_its_shape(vit):
    state = vit.state_dict()
    arch = ViTArch.from_vit(vit)
    rows = {}
    for t in WEIGHT_TYPES.values():
        name = f'layers.0.{t.param}' if t.per_layer else t.param
        assert name in state, t.name
        shape = weight_shape(t.name, arch, (arch.num_tokens, 1))
        if t.parts:  # a fused type is the whole tensor
            assert shape == state[name].shape, t.name
            assert t.chunks == len(t.parts) == 3, t.name
            continue
        rows.setdefault(name, []).append(shape)
    # Types sharing a tensor are stacked along its rows (q, k, v in qkv).
    for name, shapes in rows.items():
        param = state[name]
        total = sum(s[0] for s in shapes)
        if name == 'patch_embed.projection.weight':
            assert param.shape == (64, 3, 4, 4) and shapes == [(64, 48)]
        elif name in ('pos_embed', 'cls_token'):
            assert param.shape[-1] == shapes[0][-1]
        else:
            assert param.shape[0] == total, name
            assert param.shape[1:] == shapes[0][1:], name


def test_input_widths():
    arch = dict(embed_dims=64, feedforward_channels=96)
    assert input_width('q', arch) == 64
    assert input_width('fc1', arch) == 64
    assert input_width('fc2', arch) == 96
    for name in ('patch_embed', 'pos_embed', 'q_bias', 'ln1_weight'):
        assert input_width(name, arch) is None


def test_default_specs_for_deit_base_templates(vit):
    arch = ViTArch.from_vit(vit)
    specs = default_specs(arch, WEIGHT_TYPES, 32, 2, 5)
    assert specs['q'] == TemplateSpec((32, 32), 5, 'normal')
    assert specs['fc1'].block == (64, 32) and specs['fc2'].block == (32, 64)
    assert specs['fc1_bias'].block == (64, )
    assert specs['ln1_weight'] == TemplateSpec((32, ), 5, 'ones')
    assert specs['cls_token'].init == 'zeros'
    assert specs['patch_embed'].block == (32, 48)
    assert specs['pos_embed'].block == (17, 32)
    assert residual_block(specs) == 32
    assert residual_block({'ln1_weight': specs['ln1_weight']}) is None


def test_the_table_has_one_row_per_type():
    assert list(WEIGHT_TYPES) == [t.name for t in WEIGHT_TYPES.values()]
    for t in WEIGHT_TYPES.values():
        assert len(t.shape) == len(t.block), t.name
        assert (t.reads is None) == (len(t.shape) == 1
                                     or t.group == 'embed'), t.name
