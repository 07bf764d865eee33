import logging
from unittest import mock

import pytest
import torch
from mmengine.logging import MMLogger
from mmpretrain.registry import MODELS
from wave_helpers import tiny_classifier_cfg, tiny_vit_cfg

from wave_mm.models import MimeticInit
from wave_mm.models.initializers.mimetic_init import (low_rank_factors,
                                                      mimetic_attention)

ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
DIM, HEAD_DIMS = 32, 16


def mimetic_vit(seed=0, **kwargs):
    torch.manual_seed(seed)
    vit = MODELS.build(
        tiny_vit_cfg(ARCH, init_cfg=dict(type='MimeticInit'), **kwargs))
    vit.init_weights()
    return vit


def products(attn):
    """Per-head ``W_q,hᵀ W_k,h`` ``[H, D, D]`` and ``W_vᵀ W_projᵀ``, the
    matrices the forward pass applies to row-vector tokens."""
    w_q, w_k, w_v = attn.qkv.weight.detach().double().chunk(3)
    w_q = w_q.view(-1, HEAD_DIMS, DIM)
    w_k = w_k.view(-1, HEAD_DIMS, DIM)
    w_proj = attn.proj.weight.detach().double()
    return w_q.transpose(1, 2) @ w_k, w_v.T @ w_proj.T


def off_diagonal(m):
    return m[..., ~torch.eye(m.shape[-1], dtype=torch.bool)]


def test_products_match_targets():
    vit = MODELS.build(tiny_vit_cfg(ARCH))
    attn = vit.layers[0].attn
    qk_target, vo_target = mimetic_attention(
        attn, 0.7, 0.7, 0.4, 0.4, generator=torch.Generator().manual_seed(1))
    qk, vo = products(attn)
    assert qk_target.shape == (2, DIM, DIM)
    # W_v W_proj is full rank: exactly alpha Z - beta I.
    torch.testing.assert_close(vo.float(), vo_target, atol=1e-5, rtol=0)
    for h in range(2):
        # Rank head_dims: the best rank-16 approximation of alpha Z + beta I.
        a, b = low_rank_factors(qk_target[h].double(), HEAD_DIMS)
        torch.testing.assert_close(qk[h], a @ b.T, atol=1e-5, rtol=0)
        corr = torch.corrcoef(
            torch.stack([qk[h].flatten(), qk_target[h].double().flatten()]))
        assert corr[0, 1] > 0.9
    z = off_diagonal(vo_target)
    assert z.std() == pytest.approx(0.4 / DIM**0.5, rel=0.15)


def test_attention_logits_use_the_product():
    """The orientation: head h's logits are x W_q,hᵀ W_k,h yᵀ."""
    vit = mimetic_vit(qkv_bias=False)
    attn = vit.layers[0].attn
    x = torch.randn(5, DIM)
    with torch.no_grad():
        q, k, _ = attn.qkv(x).view(5, 3, 2, HEAD_DIMS).unbind(1)
        logits = torch.einsum('ihd,jhd->hij', q, k)
    qk = products(attn)[0].float()
    torch.testing.assert_close(logits, x @ qk @ x.T, atol=1e-4, rtol=1e-4)


def test_statistics_through_initializer():
    vit = mimetic_vit()
    for layer in vit.layers:
        qk, vo = products(layer.attn)
        assert vo.diagonal().mean() == pytest.approx(-0.4, abs=0.05)
        assert off_diagonal(vo).mean().abs() < 0.02
        # Rank-16 of 32: most of beta I survives on the diagonal.
        diag = qk.diagonal(dim1=1, dim2=2).mean()
        assert 0.35 < diag <= 0.7
        assert off_diagonal(qk).mean().abs() < 0.02
    heads = products(vit.layers[0].attn)[0]
    assert not torch.allclose(heads[0], heads[1])  # a fresh Z per head


def test_other_tensors_keep_default_init():
    torch.manual_seed(0)
    default = MODELS.build(tiny_vit_cfg(ARCH))
    default.init_weights()
    ours = mimetic_vit(seed=0)
    mimetic = ('attn.qkv.weight', 'attn.proj.weight')
    for name, value in default.state_dict().items():
        same = torch.equal(ours.state_dict()[name], value)
        assert same != name.endswith(mimetic), name
    assert ours.pos_embed.abs().sum() > 0  # the stock draw still happens


def test_seeded_by_global_rng():
    a, b, c = mimetic_vit(0), mimetic_vit(0), mimetic_vit(1)
    w = 'layers.1.attn.qkv.weight'
    assert torch.equal(a.state_dict()[w], b.state_dict()[w])
    assert not torch.equal(a.state_dict()[w], c.state_dict()[w])


def test_survives_model_level_deit_init():
    torch.manual_seed(0)
    model = MODELS.build(
        tiny_classifier_cfg(
            tiny_vit_cfg(ARCH, init_cfg=dict(type='MimeticInit')),
            init_cfg=[
                dict(type='TruncNormal', layer='Linear', std=.02),
                dict(type='Constant', layer='LayerNorm', val=1., bias=0.)
            ]))
    model.init_weights()
    _, vo = products(model.backbone.layers[1].attn)
    assert vo.diagonal().mean() == pytest.approx(-0.4, abs=0.05)


def test_init_log_credits_mimetic_init():
    logger = MMLogger.get_instance('mimetic_log', log_level='INFO')
    records = []
    handler = type('H', (logging.Handler, ), {
        'emit': lambda self, r: records.append(r.getMessage())
    })()
    logger.addHandler(handler)
    try:
        with mock.patch(
                'mmengine.logging.MMLogger.get_current_instance',
                return_value=logger):
            mimetic_vit()
    finally:
        logger.removeHandler(handler)
    text = '\n'.join(records)
    for name, credited in [('layers.0.attn.qkv.weight', True),
                           ('layers.0.attn.proj.weight', True),
                           ('layers.0.attn.qkv.bias', False)]:
        info = text.split(f'\n{name} - ')[1].splitlines()[1]
        assert info.startswith('MimeticInit: alpha_qk=0.7') == credited, name


@pytest.mark.parametrize('kwargs,match', [
    (dict(alpha_qk=-0.1), 'alpha_qk must be a finite number >= 0, got -0.1'),
    (dict(beta_vo=float('nan')), 'beta_vo'),
    (dict(beta_qk='0.7'), 'beta_qk'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MimeticInit(**kwargs)


def test_registered_with_and_without_default_scope():
    from mmengine.registry import WEIGHT_INITIALIZERS as ROOT
    from mmpretrain.registry import WEIGHT_INITIALIZERS
    assert ROOT.get('MimeticInit') is MimeticInit
    assert WEIGHT_INITIALIZERS.get('MimeticInit') is MimeticInit
