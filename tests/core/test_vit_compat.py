import numpy as np
import torch
from mmpretrain.models.backbones import VisionTransformer

from wave_mm.core import vit_compat


def test_shim_applied_once_and_idempotent():
    patched = VisionTransformer.init_weights
    assert hasattr(patched, '__wrapped__')
    vit_compat.apply()
    assert VisionTransformer.init_weights is patched


def test_initializers_that_own_the_vit():
    assert vit_compat.owns_vit(dict(type='WaveInit', templates=''))
    assert vit_compat.owns_vit(
        [dict(type='Constant', val=1),
         dict(type='WaveInit')])
    for name in ('WeightSelectionInit', 'TLEGInit'):
        assert vit_compat.owns_vit(dict(type=name))
    # Mimetic writes attention only; the rest is the stock init's.
    assert not vit_compat.owns_vit(dict(type='MimeticInit'))
    assert not vit_compat.owns_vit(dict(type='Pretrained'))
    assert not vit_compat.owns_vit(dict(type='NoSuchInit'))
    assert not vit_compat.owns_vit(None)


def test_stock_init_still_redraws_pos_embed():
    vit = VisionTransformer(arch='deit-tiny', img_size=32, patch_size=16)
    vit.init_weights()
    assert vit.pos_embed.abs().sum() > 0


def test_float_drop_prob():
    vit = VisionTransformer(
        arch='deit-tiny', img_size=32, patch_size=16, drop_path_rate=0.1)
    probs = [m for m in vit.modules() if hasattr(m, 'drop_prob')]
    assert any(isinstance(m.drop_prob, np.generic) for m in probs)
    vit_compat.float_drop_prob(vit)
    assert all(type(m.drop_prob) is float for m in probs)
    assert vit(torch.randn(1, 3, 32, 32))[0].shape == (1, 192)
