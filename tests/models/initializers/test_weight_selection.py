import pytest
import torch
from mmpretrain.registry import MODELS
from wave_helpers import TINY_AUX, tiny_classifier_cfg, tiny_vit_cfg

from wave_mm.models.initializers.weight_selection import select_indices


@pytest.fixture
def ancestry(tmp_path):
    """A 4 x 64 classifier checkpoint (the larger, 'pre-trained' ViT)."""
    torch.manual_seed(0)
    model = MODELS.build(tiny_classifier_cfg(tiny_vit_cfg()))
    model.init_weights()
    path = str(tmp_path / 'ancestry.pth')
    torch.save({'state_dict': model.state_dict()}, path)
    return path, model.backbone.state_dict()


def test_select_indices():
    assert select_indices(8, 4).tolist() == [0, 2, 4, 6]
    assert select_indices(5, 3).tolist() == [0, 2, 4]
    assert select_indices(64, 48).tolist()[:3] == [0, 1, 3]
    with pytest.raises(ValueError, match='cannot select 5 of 4'):
        select_indices(4, 5)


def _selected(path, arch, **kwargs):
    cfg = tiny_vit_cfg(
        arch,
        init_cfg=dict(type='WeightSelectionInit', checkpoint=path),
        **kwargs)
    vit = MODELS.build(cfg)
    vit.init_weights()
    return vit.state_dict()


def test_smaller_vit_takes_strided_subset(ancestry):
    path, src = ancestry
    arch = dict(
        embed_dims=32, num_layers=2, num_heads=1, feedforward_channels=128)
    out = _selected(path, arch)
    fc1 = src['layers.1.ffn.layers.0.0.weight']
    assert torch.equal(out['layers.1.ffn.layers.0.0.weight'], fc1[::2, ::2])
    q, k, v = src['layers.0.attn.qkv.weight'].chunk(3)
    assert torch.equal(out['layers.0.attn.qkv.weight'],
                       torch.cat([q[::2, ::2], k[::2, ::2], v[::2, ::2]]))
    assert torch.equal(out['pos_embed'], src['pos_embed'][..., ::2])
    assert torch.equal(out['patch_embed.projection.weight'],
                       src['patch_embed.projection.weight'][::2])


def test_same_arch_copies_and_survives_init_order(ancestry):
    path, src = ancestry
    out = _selected(path, TINY_AUX['arch'])
    for name, value in src.items():
        assert torch.equal(out[name], value), name


def test_non_divisible_width_and_new_grid(ancestry):
    path, src = ancestry
    arch = dict(
        embed_dims=48, num_layers=3, num_heads=2, feedforward_channels=192)
    out = _selected(path, arch, img_size=24)
    idx = select_indices(64, 48)
    torch.testing.assert_close(out['layers.2.ln1.weight'],
                               src['layers.2.ln1.weight'][idx])
    assert out['pos_embed'].shape == (1, 37, 48)


def test_larger_target_rejected(ancestry):
    path, _ = ancestry
    arch = dict(
        embed_dims=96, num_layers=2, num_heads=3, feedforward_channels=384)
    with pytest.raises(ValueError, match='needs a larger ancestry'):
        _selected(path, arch)
    deeper = dict(TINY_AUX['arch'], num_layers=6)
    with pytest.raises(ValueError, match='4 layers, the target 6'):
        _selected(path, deeper)


def test_head_selected_on_request(ancestry, tmp_path):
    source = torch.load(ancestry[0], weights_only=True)['state_dict']
    # The stock head starts at zero: give it values to select from.
    source['head.layers.head.weight'] = torch.randn(3, 64)
    source['head.layers.head.bias'] = torch.randn(3)
    path = str(tmp_path / 'with_head.pth')
    torch.save({'state_dict': source}, path)
    arch = dict(
        embed_dims=32, num_layers=2, num_heads=1, feedforward_channels=128)
    init = dict(type='WeightSelectionInit', checkpoint=path, head=True)
    model = MODELS.build(
        tiny_classifier_cfg(tiny_vit_cfg(arch), init_cfg=init))
    model.init_weights()
    torch.testing.assert_close(model.head.layers.head.weight,
                               source['head.layers.head.weight'][:, ::2])
    torch.testing.assert_close(model.head.layers.head.bias,
                               source['head.layers.head.bias'])
    backbone_only = MODELS.build(tiny_vit_cfg(arch, init_cfg=init))
    with pytest.raises(ValueError, match='placed on a classifier'):
        backbone_only.init_weights()
