import pytest
import torch
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_INITIALIZERS
from mmpretrain.registry import MODELS, WEIGHT_INITIALIZERS
from wave_helpers import (TINY_AUX, classifier_with_init, save_teacher,
                          tiny_classifier_cfg, tiny_vit_cfg)

from wave_mm.core import vit_compat
from wave_mm.models.initializers.dct import (dct, dct_matrix, idct,
                                             resize_spectrum, spectral_resize)
from wave_mm.models.initializers.front_init import FRONTInit, front_resize

NARROW = dict(
    embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=96)
WIDE = dict(embed_dims=96, num_layers=6, num_heads=3, feedforward_channels=320)


@pytest.fixture(scope='module')
def ancestry(tmp_path_factory):
    """A 4 x 64 classifier checkpoint with every tensor random and
    non-constant (norms, biases, class token and head too)."""
    path = str(tmp_path_factory.mktemp('front') / 'ancestry.pth')
    save_teacher(path, tiny_classifier_cfg(tiny_vit_cfg()))
    state = torch.load(path, weights_only=True)['state_dict']
    generator = torch.Generator().manual_seed(1)
    for name, value in state.items():
        value.add_(torch.randn(value.shape, generator=generator) * 0.1)
    torch.save({'state_dict': state}, path)
    return path, state


def _init(path, arch=None, num_classes=3, **kwargs):
    """A tiny classifier of ``arch`` initialised by FRONT from ``path``."""
    init = dict(type='FRONTInit', checkpoint=path, **{'head': True, **kwargs})
    cfg = tiny_classifier_cfg(
        tiny_vit_cfg(arch), num_classes=num_classes, init_cfg=init)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def _stack(state, name, layers=4):
    return torch.stack(
        [state[f'backbone.layers.{i}.{name}'] for i in range(layers)])


def test_dct_is_orthonormal_and_inverts():
    for n in (1, 2, 7, 16):
        c = dct_matrix(n)
        torch.testing.assert_close(c @ c.T, torch.eye(n, dtype=c.dtype))
    x = torch.randn(3, 5, 6, dtype=torch.float64)
    torch.testing.assert_close(idct(dct(x, 1), 1), x, rtol=0, atol=1e-12)
    # DCT-II by its definition, for one vector; a constant is pure DC.
    n, v = 6, x[0, 0]
    k = torch.arange(n, dtype=torch.float64)
    basis = torch.cos(torch.pi * (2 * k + 1) * k[:, None] / (2 * n))
    scale = torch.full((n, ), (2 / n)**0.5, dtype=torch.float64)
    scale[0] = n**-0.5
    ref = scale * (basis * v).sum(1)
    torch.testing.assert_close(dct(v), ref)
    torch.testing.assert_close(
        dct(torch.ones(4)), torch.tensor([2., 0, 0, 0], dtype=torch.float64))
    # Along one dim: the same as slice by slice.
    torch.testing.assert_close(dct(x, 1)[:, :, 2], dct(x[:, :, 2], 1))


def test_truncated_then_padded_is_low_pass():
    x = torch.randn(12, 5, dtype=torch.float64)
    coef = dct(x, 0)
    coef[5:] = 0
    back = spectral_resize(spectral_resize(x, 0, 5), 0, 12)
    torch.testing.assert_close(back, idct(coef, 0), rtol=0, atol=1e-12)
    # keep_ratio zeroes round(0.5 * 12) = 6 frequencies at the same size.
    coef = dct(x, 0)
    coef[6:] = 0
    torch.testing.assert_close(
        spectral_resize(x, 0, 12, keep_ratio=0.5), idct(coef, 0))
    assert resize_spectrum(coef, 1, 8).shape == (12, 8)
    assert torch.equal(resize_spectrum(coef, 1, 8)[:, 5:], torch.zeros(12, 3))


def test_front_resize_same_shape_is_identity():
    w = torch.randn(4, 6, 10, dtype=torch.float64) * 0.3 + 0.1
    out = front_resize(w, w.shape, (True, True))
    torch.testing.assert_close(out, w, rtol=0, atol=1e-10)
    w32 = w.float()
    torch.testing.assert_close(
        front_resize(w32, w32.shape, (True, False)), w32, rtol=0, atol=1e-5)
    ones = torch.ones(3, 8)
    assert torch.equal(
        front_resize(ones, (5, 16), (True, )), torch.ones(5, 16))


def test_front_resize_keeps_the_source_stats_and_low_pass():
    w = torch.randn(4, 8, 8, dtype=torch.float64) * 0.5 + 0.2
    for shape in ((6, 12, 4), (2, 4, 16), (4, 8, 8)):
        out = front_resize(w, shape, (True, True), keep_ratio=0.5)
        assert out.shape == shape
        torch.testing.assert_close(out.mean(), w.mean())
        torch.testing.assert_close(
            out.std(unbiased=False), w.std(unbiased=False))
    # At the source's shape with keep_ratio < 1: the standardised inverse
    # DCT of the zeroed high frequencies, with the source's mean and std.
    z = (w - w.mean()) / w.std(unbiased=False)
    coef = dct(dct(z, 1), 2)
    coef[:, 4:] = 0
    coef[:, :, 4:] = 0
    low = idct(idct(coef, 1), 2)
    low = (low - low.mean()) / low.std(unbiased=False)
    expected = low * w.std(unbiased=False) + w.mean()
    torch.testing.assert_close(
        front_resize(w, w.shape, (True, True), keep_ratio=0.5), expected)
    with pytest.raises(ValueError, match='cannot become'):
        front_resize(w, (4, 8), (True, ))


def test_registered_and_owns_the_vit():
    assert WEIGHT_INITIALIZERS.get('FRONTInit') is FRONTInit
    assert MMENGINE_INITIALIZERS.get('FRONTInit') is FRONTInit
    assert vit_compat.owns_vit(dict(type='FRONTInit'))


def test_same_arch_reproduces_the_whole_classifier(ancestry):
    path, state = ancestry
    out = _init(path).state_dict()
    assert set(out) == set(state)
    for name, value in state.items():
        torch.testing.assert_close(out[name], value, rtol=0, atol=1e-5)
    # On the backbone, with head=False, as WeightSelectionInit.
    model = classifier_with_init(tiny_vit_cfg(),
                                 dict(type='FRONTInit', checkpoint=path),
                                 'backbone')
    for name, value in model.backbone.state_dict().items():
        torch.testing.assert_close(
            value, state['backbone.' + name], rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    'arch', [
        NARROW, WIDE,
        dict(TINY_AUX['arch'], num_layers=7),
        dict(TINY_AUX['arch'], num_layers=1)
    ],
    ids=['narrower', 'wider', 'deeper', 'shallower'])
def test_other_sizes(ancestry, arch):
    path, state = ancestry
    model = _init(path, arch)
    fresh = MODELS.build(tiny_classifier_cfg(tiny_vit_cfg(arch)))
    out = model.state_dict()
    for name, value in fresh.state_dict().items():
        assert out[name].shape == value.shape, name
        assert torch.isfinite(out[name]).all(), name
    # q, k and v each from their own stack; the head's width follows.
    depth, width = arch['num_layers'], arch['embed_dims']
    qkv = torch.stack(
        [out[f'backbone.layers.{i}.attn.qkv.weight'] for i in range(depth)])
    for part, source in zip(
            qkv.chunk(3, dim=1),
            _stack(state, 'attn.qkv.weight').chunk(3, dim=1)):
        torch.testing.assert_close(
            part, front_resize(source, (depth, width, width), (True, True)))
    torch.testing.assert_close(
        out['head.layers.head.weight'],
        front_resize(state['head.layers.head.weight'][None], (1, 3, width),
                     (False, True))[0])
    # Patch embedding and position embedding along D only.
    torch.testing.assert_close(
        out['backbone.patch_embed.projection.weight'].reshape(width, -1),
        front_resize(
            state['backbone.patch_embed.projection.weight'].reshape(1, 64, -1),
            (1, width, 48), (True, False))[0])
    torch.testing.assert_close(
        out['backbone.pos_embed'],
        front_resize(state['backbone.pos_embed'], (1, 17, width),
                     (False, True)))


def test_new_patch_grid_and_ffn_1d(ancestry):
    path, state = ancestry
    init = dict(type='FRONTInit', checkpoint=path, ffn_1d=True)
    vit = MODELS.build(tiny_vit_cfg(NARROW, img_size=24, init_cfg=init))
    vit.init_weights()
    assert vit.pos_embed.shape == (1, 37, 32)
    fc1 = torch.stack([vit.layers[i].ffn.layers[0][0].weight for i in (0, 1)])
    torch.testing.assert_close(
        fc1,
        front_resize(
            _stack(state, 'ffn.layers.0.0.weight'), (2, 96, 32),
            (True, False)))
    # At the source's own shape the option changes nothing.
    out = _init(path, ffn_1d=True).state_dict()
    for name, value in state.items():
        torch.testing.assert_close(out[name], value, rtol=0, atol=1e-5)


def test_deterministic_and_keep_ratio(ancestry):
    path, state = ancestry
    a, b = (_init(path, WIDE).state_dict() for _ in range(2))
    assert all(torch.equal(a[k], b[k]) for k in a)
    cut = _init(path, keep_ratio=0.5).state_dict()
    name = 'backbone.layers.2.attn.proj.weight'
    assert not torch.allclose(cut[name], state[name], atol=1e-3)
    torch.testing.assert_close(
        cut[name],
        front_resize(
            _stack(state, 'attn.proj.weight'), (4, 64, 64), (True, True),
            keep_ratio=0.5)[2])


def test_head_copied_only_when_classes_match(ancestry, tmp_path):
    path, state = ancestry
    model = MODELS.build(
        tiny_classifier_cfg(
            tiny_vit_cfg(),
            num_classes=5,
            init_cfg=dict(type='FRONTInit', checkpoint=path, head=True)))
    model.init_weights()
    # The head's own init (mmpretrain's zeros), not the ancestry's.
    assert torch.equal(model.head.layers.head.weight, torch.zeros(5, 64))
    torch.testing.assert_close(
        model.backbone.layers[0].ln1.weight,
        state['backbone.layers.0.ln1.weight'],
        rtol=0,
        atol=1e-5)
    # head=False leaves a matching head to its own init too.
    plain = _init(path, head=False)
    assert not torch.allclose(plain.head.layers.head.weight,
                              state['head.layers.head.weight'])
    init = dict(type='FRONTInit', checkpoint=path, head=True)
    with pytest.raises(ValueError, match='placed on a classifier'):
        MODELS.build(tiny_vit_cfg(init_cfg=init)).init_weights()
    headless = str(tmp_path / 'headless.pth')
    torch.save({k: v for k, v in state.items() if 'head.' != k[:5]}, headless)
    with pytest.raises(ValueError, match='headless.pth stores no classifier'):
        _init(headless)


def test_clear_errors_before_anything_is_written(ancestry, tmp_path):
    path, state = ancestry
    missing = str(tmp_path / 'missing.pth')
    gone = 'backbone.layers.3.ffn.layers.1.weight'
    torch.save({'state_dict': {
        k: v
        for k, v in state.items() if k != gone
    }}, missing)
    model = MODELS.build(
        tiny_classifier_cfg(
            tiny_vit_cfg(),
            init_cfg=dict(type='FRONTInit', checkpoint=missing, head=True)))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=f'missing.pth: no {gone!r}'):
        model.init_weights()
    assert all(
        torch.equal(v, before[k]) for k, v in model.state_dict().items())
    patch = MODELS.build(
        tiny_vit_cfg(
            patch_size=2, init_cfg=dict(type='FRONTInit', checkpoint=path)))
    with pytest.raises(ValueError, match=r'inputs per patch.*patch_size=2'):
        patch.init_weights()
    for bad in (0, 1.5, True, '1'):
        with pytest.raises(ValueError, match='keep_ratio must be'):
            FRONTInit(checkpoint=path, keep_ratio=bad)
    with pytest.raises(ValueError, match='ffn_1d must be'):
        FRONTInit(checkpoint=path, ffn_1d=1)


def test_work_dir_ancestry(ancestry, tmp_path):
    path, state = ancestry
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    torch.save({'state_dict': state}, str(work_dir / 'epoch_3.pth'))
    # MMEngine writes the absolute path of a work dir that has moved since.
    (work_dir / 'last_checkpoint').write_text('/elsewhere/epoch_3.pth')
    out = _init(str(work_dir)).state_dict()
    torch.testing.assert_close(
        out['backbone.layers.1.attn.qkv.weight'],
        state['backbone.layers.1.attn.qkv.weight'],
        rtol=0,
        atol=1e-5)
