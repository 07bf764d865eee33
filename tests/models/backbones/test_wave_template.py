import pytest
import torch
from mmpretrain.models.backbones import VisionTransformer

from wave_mm.models import WaveTemplate

ARCHS = [
    'deit-tiny',
    'deit-small',
    'deit-base',
    dict(embed_dims=320, num_layers=7, num_heads=5, feedforward_channels=1280),
    dict(embed_dims=96, num_layers=18, num_heads=3, feedforward_channels=384),
]


@pytest.mark.parametrize('arch', ARCHS, ids=str)
def test_stock_vit_loads_state_dict_and_matches(arch):
    torch.manual_seed(0)
    kwargs = dict(arch=arch, img_size=32, patch_size=16)
    width = VisionTransformer.arch_zoo[arch]['embed_dims'] if isinstance(
        arch, str) else arch['embed_dims']
    # A narrower arch than the default 192-wide blocks takes 32-wide ones.
    aux = WaveTemplate(
        **kwargs, num_templates=2, template_width=192 if width >= 192 else 32)
    aux.init_weights()
    vit = VisionTransformer(**kwargs)
    vit.load_state_dict(aux.to_vit_state_dict(), strict=True)
    aux.eval(), vit.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        diff = (aux(x)[0] - vit(x)[0]).abs().max().item()
    assert diff <= 1e-5


def test_only_templates_and_scalers_are_parameters(aux):
    names = {n for n, _ in aux.named_parameters()}
    assert names and all(n.startswith('bank.') for n in names)
    assert 'pos_embed' not in aux.state_dict()


def test_partial_templating_keeps_other_params(tmp_path):
    aux = WaveTemplate(
        arch='deit-tiny',
        img_size=32,
        patch_size=16,
        templated=('attn', 'ffn'),
        num_templates=2)
    aux.init_weights()
    names = {n for n, _ in aux.named_parameters() if not n.startswith('bank')}
    assert 'pos_embed' in names and 'layers.0.ln1.weight' in names
    assert 'layers.0.attn.qkv.weight' not in names
    vit = VisionTransformer(arch='deit-tiny', img_size=32, patch_size=16)
    vit.load_state_dict(aux.to_vit_state_dict(), strict=True)


def test_gradients_reach_templates_and_scalers(aux):
    aux.train()
    aux(torch.randn(2, 3, 16, 16))[0].sum().backward()
    for name, param in aux.named_parameters():
        assert param.grad is not None, name
    # No generated tensor is left on a module after forward.
    assert 'weight' not in aux.layers[0].attn.qkv.__dict__


def test_out_types_and_indices():
    model = WaveTemplate(
        arch='deit-tiny',
        img_size=32,
        patch_size=16,
        out_type='featmap',
        out_indices=[0, -1],
        num_templates=1)
    outs = model(torch.randn(1, 3, 32, 32))
    assert [o.shape for o in outs] == [(1, 192, 2, 2)] * 2


def test_head_sized_blocks():
    model = WaveTemplate(
        arch='deit-small',
        img_size=32,
        patch_size=16,
        template_width=64,
        ffn_ratio=1,
        num_templates=2,
        kron_order='ST',
        fused_qkv=False)
    assert model.bank.templates['q'].shape == (2, 64, 64)
    assert model.bank.scalers['fc1'].shape == (12, 2, 24, 6)


def test_frozen_stages_rejected():
    with pytest.raises(ValueError, match='frozen_stages'):
        WaveTemplate(arch='deit-tiny', frozen_stages=1)


def test_wrapped_template_dict_rejected():
    """A ParameterDict made an FSDP unit of its own is never unsharded
    (nothing calls it): the bank says so instead of composing shards."""

    class Wrapper(torch.nn.Module):

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

    model = WaveTemplate(arch='deit-tiny', img_size=32, patch_size=16)
    model.bank.templates = Wrapper(model.bank.templates)
    with pytest.raises(RuntimeError, match='TemplateBank.templates .*Wrapper'):
        model(torch.zeros(1, 3, 32, 32))
