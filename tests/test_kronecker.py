import pytest
import torch

from wave_mm.kronecker import (compose, grid_shape, resample_channels,
                               resample_depth, resample_grid, resample_scalers,
                               width_scale)


def kron_reference(scalers, templates):
    """``sum_k kron(S[l, k], T[k])`` per layer with ``torch.kron``."""
    return torch.stack([
        sum(torch.kron(s_l[k], templates[k]) for k in range(len(templates)))
        for s_l in scalers
    ])


@pytest.mark.parametrize('seed', range(4))
def test_compose_matrix_equals_kron(seed):
    g = torch.Generator().manual_seed(seed)
    L, K, A, B, o, i = (
        int(v) for v in torch.randint(1, 5, (6, ), generator=g))
    S = torch.randn(L, K, A, B, dtype=torch.float64, generator=g)
    T = torch.randn(K, o, i, dtype=torch.float64, generator=g)
    W = compose(S, T, (A * o, B * i))
    torch.testing.assert_close(W, kron_reference(S, T), rtol=0, atol=1e-12)


def test_compose_vector_equals_kron():
    S = torch.randn(3, 2, 4, dtype=torch.float64)
    T = torch.randn(2, 5, dtype=torch.float64)
    torch.testing.assert_close(compose(S, T, (20, )), kron_reference(S, T))


def test_compose_crops_to_non_multiple_shape():
    S = torch.randn(2, 3, 2, 3, dtype=torch.float64)
    T = torch.randn(3, 4, 5, dtype=torch.float64)
    full = kron_reference(S, T)
    W = compose(S, T, (7, 11))
    assert W.shape == (2, 7, 11)
    torch.testing.assert_close(W, full[:, :7, :11])


def test_compose_rejects_bad_shapes():
    with pytest.raises(ValueError, match='exceeds'):
        compose(torch.randn(1, 2, 1, 1), torch.randn(2, 4, 4), (5, 4))
    with pytest.raises(ValueError, match='do not match'):
        compose(torch.randn(1, 3, 1, 1), torch.randn(2, 4, 4), (4, 4))


def test_compose_gradcheck():
    S = torch.randn(2, 2, 2, 3, dtype=torch.float64, requires_grad=True)
    T = torch.randn(2, 3, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s, t: compose(s, t, (5, 6)), (S, T))
    s = torch.randn(2, 2, 3, dtype=torch.float64, requires_grad=True)
    t = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: compose(a, b, (10, )), (s, t))


def test_grid_shape():
    assert grid_shape((320, 320), (192, 192)) == (2, 2)
    assert grid_shape((768, ), (192, )) == (4, )
    with pytest.raises(ValueError, match='ranks'):
        grid_shape((4, 4), (2, ))


def test_resample_identity_for_own_size():
    S = torch.randn(5, 3, 2, 2)
    assert torch.equal(resample_scalers(S, 5, (2, 2)), S)


def test_resample_depth_interpolates_endpoints_and_midpoints():
    S = torch.arange(3.).view(3, 1, 1)
    out = resample_depth(S, 5)
    torch.testing.assert_close(out.flatten(), torch.tensor([0, .5, 1, 1.5, 2]))
    assert resample_depth(S, 1).flatten().tolist() == [0.]


def test_resample_grid_crop_mean_and_tile():
    S = torch.arange(4.).view(1, 1, 4)
    assert resample_grid(S, (2, ), 'crop').flatten().tolist() == [0, 1]
    assert resample_grid(S, (2, ), 'mean').flatten().tolist() == [.5, 2.5]
    assert resample_grid(S, (6, ),
                         'crop').flatten().tolist() == [0, 1, 2, 3, 0, 1]
    with pytest.raises(ValueError, match='width rule'):
        resample_grid(S, (2, ), 'nearest')


@pytest.mark.parametrize('block,shape', [((3, 4), (7, 11)), ((5, ), (9, ))])
def test_compose_batched_equals_per_item(block, shape):
    grid = tuple(-(-n // b) for n, b in zip(shape, block))
    S = torch.randn(3, 2, 4, *grid, dtype=torch.float64)
    T = torch.randn(3, 4, *block, dtype=torch.float64)
    batched = compose(S, T, shape)
    assert batched.shape == (3, 2, *shape)
    for g in range(3):
        torch.testing.assert_close(batched[g], compose(S[g], T[g], shape))


def test_resample_grid_scaled_lays_out_as_crop():
    S = torch.arange(4.).view(1, 1, 4)
    for size in (2, 6):
        assert torch.equal(
            resample_grid(S, (size, ), 'scaled'),
            resample_grid(S, (size, ), 'crop'))


def test_width_scale():
    assert width_scale(64, 128, 32) == 0.5  # two whole repeats
    assert width_scale(64, 96, 32) == 64 / 96
    assert width_scale(128, 64, 64) == 1.0  # a whole block left out
    assert width_scale(128, 96, 64) == 128 / 96  # 32 cut inside a block
    assert width_scale(64, 64, 32) == 1.0


def test_resample_channels_rules():
    w = torch.arange(12.).view(2, 6)  # width 6 in blocks of 2
    torch.testing.assert_close(resample_channels(w, 4, 2), w[:, :4])
    torch.testing.assert_close(
        resample_channels(w, 3, 2, 'scaled'), w[:, :3] * 4 / 3)
    torch.testing.assert_close(
        resample_channels(w, 12, 2),
        torch.cat([w, w], 1) / 2)
    # 'mean' merges blocks (0, 1) and (2): sums keep the logit scale.
    merged = resample_channels(w, 4, 2, 'mean')
    torch.testing.assert_close(merged[:, :2], (w[:, 0:2] + w[:, 2:4]) * 0.75)
