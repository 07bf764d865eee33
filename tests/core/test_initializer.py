"""The initializer base: registration, finding the ViT, loading a head."""
import pytest
import torch
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_INITIALIZERS
from mmpretrain.registry import MODELS, WEIGHT_INITIALIZERS
from wave_helpers import tiny_classifier_cfg, tiny_vit_cfg

from wave_mm.core import (ViTInitializer, find_vit, load_head,
                          mark_initialised, register_initializer)


def test_registered_in_both_registries():
    for name in ('WaveInit', 'WeightSelectionInit', 'TLEGInit', 'MimeticInit'):
        cls = WEIGHT_INITIALIZERS.get(name)
        assert issubclass(cls, ViTInitializer)
        assert MMENGINE_INITIALIZERS.get(name) is cls

    @register_initializer
    class ProbeInit(ViTInitializer):

        def __call__(self, module):
            mark_initialised(self, module, find_vit(module), 'probe')

    assert WEIGHT_INITIALIZERS.get('ProbeInit') is ProbeInit
    vit = MODELS.build(tiny_vit_cfg(init_cfg=dict(type='ProbeInit')))
    before = vit.pos_embed.detach().clone()
    vit.init_weights()
    # It owns the ViT: no pos_embed re-draw after it, children marked.
    assert torch.equal(vit.pos_embed, before)
    assert all(getattr(m, '_is_init', True) for m in vit.modules())


def test_find_vit():
    model = MODELS.build(tiny_classifier_cfg(tiny_vit_cfg()))
    assert find_vit(model) is model.backbone
    assert find_vit(model.backbone) is model.backbone
    with pytest.raises(TypeError, match='got VisionTransformerClsHead'):
        find_vit(model.head)


def test_load_head_checks_shapes():
    model = MODELS.build(tiny_classifier_cfg(tiny_vit_cfg()))
    head = {k: torch.ones_like(v) for k, v in model.head.state_dict().items()}
    load_head(model, head, 'f.safetensors')
    assert bool((model.head.layers.head.weight == 1).all())
    bad = dict(head, **{'layers.head.weight': torch.ones(2, 2)})
    with pytest.raises(ValueError, match='f.safetensors does not fit'):
        load_head(model, bad, 'f.safetensors')
    with pytest.raises(ValueError, match='stores no classifier head'):
        load_head(model, {}, 'f.safetensors')
