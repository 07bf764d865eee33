"""KroneckerView: the one way a ViT runs from a bank."""
import torch
from mmpretrain.models.backbones import VisionTransformer

from wave_mm.core import KroneckerView, default_specs

ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def _view_and_bank():
    torch.manual_seed(0)
    vit = VisionTransformer(arch=ARCH, img_size=8, patch_size=4)
    view = KroneckerView(vit)
    specs = default_specs(view.layout.arch, view.layout.types, 16, 2, 3)
    return vit, view, view.bank(specs)


def test_run_equals_the_vit_loaded_with_the_tensors():
    vit, view, bank = _view_and_bank()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        tensors = view.compose(bank)
        out = view.run(vit, tensors, (x, ))[0]
        vit.load_state_dict({**vit.state_dict(), **tensors}, strict=True)
        assert torch.equal(out, vit(x)[0])


def test_run_leaves_the_vit_as_it_was():
    vit, view, bank = _view_and_bank()
    before = {k: v.clone() for k, v in vit.state_dict().items()}
    view.run(vit, view.compose(bank), (torch.randn(1, 3, 8, 8), ))
    for name, value in vit.state_dict().items():
        assert torch.equal(value, before[name]), name


def test_overrides_replace_the_bank_and_receive_gradients():
    vit, view, bank = _view_and_bank()
    scalers = {
        t: torch.zeros_like(s, requires_grad=True)
        for t, s in bank.scalers.items()
    }
    tensors = view.compose(bank, scalers=scalers)
    assert all(float(v.abs().sum()) == 0 for v in tensors.values())
    out = view.run(
        vit,
        view.compose(
            bank, scalers=dict(scalers, q=bank.scalers['q'] + scalers['q'])),
        (torch.randn(1, 3, 8, 8), ))[0]
    out.sum().backward()
    assert scalers['q'].grad is not None


def test_strip_and_placed():
    vit, view, bank = _view_and_bank()
    view.strip(vit)
    assert not any(
        n in dict(vit.named_parameters()) for n in view.layout.param_names())
    with view.placed(vit, view.compose(bank)):
        assert vit.layers[0].attn.qkv.weight.shape == (96, 32)
        out = vit(torch.randn(1, 3, 8, 8))[0]
    assert out.shape == (1, 32)
    assert not hasattr(vit.layers[0].attn.qkv, 'weight')
