"""KroneckerProjectionInit on a whole distiller also starts its head at the
ancestry's."""
import pytest
import torch
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.registry import MODELS
from torch import nn

from wave_mm.models import KroneckerProjectionInit

ARCH = dict(embed_dims=64, num_layers=2, num_heads=2, feedforward_channels=128)


def head(classes=10):
    return MODELS.build(
        dict(
            type='VisionTransformerClsHead',
            num_classes=classes,
            in_channels=64))


def distiller(classes=10) -> nn.Module:
    model = nn.Module()
    model.backbone = MODELS.build(
        dict(
            type='WaveTemplate',
            arch=ARCH,
            img_size=16,
            patch_size=4,
            template_width=32,
            num_templates=2))
    model.head = head(classes)
    return model


def ancestry(tmp_path) -> tuple:
    torch.manual_seed(0)
    vit, cls = VisionTransformer(arch=ARCH, img_size=16, patch_size=4), head()
    with torch.no_grad():
        for param in [*vit.parameters(), *cls.parameters()]:
            param.normal_()
    state = {f'backbone.{k}': v for k, v in vit.state_dict().items()}
    state.update({f'head.{k}': v for k, v in cls.state_dict().items()})
    path = str(tmp_path / 'ancestry.pth')
    torch.save(state, path)
    return cls, path


def test_the_head_of_a_distiller_is_the_ancestrys(tmp_path):
    cls, path = ancestry(tmp_path)
    model = distiller()
    KroneckerProjectionInit(checkpoint=path)(model)
    for name, value in cls.state_dict().items():
        assert torch.equal(model.head.state_dict()[name], value), name
    assert model.head.is_init


def test_a_head_of_other_classes_is_refused_before_anything_changes(tmp_path):
    _, path = ancestry(tmp_path)
    model = distiller(classes=5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r'ancestry.pth: head.*shape'):
        KroneckerProjectionInit(checkpoint=path)(model)
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name
