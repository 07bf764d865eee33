import pytest
import torch

from wave_mm.kronecker import (compose, from_blocks, grid_shape, join_rows,
                               resample_channels, resample_depth,
                               resample_grid, resample_scalers, split_scalers,
                               st_as_ts, to_blocks, width_scale)


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


def kron_ts_reference(scalers, templates):
    """``sum_k kron(T[k], S[l, k])`` per layer with ``torch.kron``."""
    return torch.stack([
        sum(torch.kron(templates[k], s_l[k]) for k in range(len(templates)))
        for s_l in scalers
    ])


@pytest.mark.parametrize('order', ['ST', 'TS'])
@pytest.mark.parametrize('rank', [1, 2])
def test_compose_in_either_order_equals_kron_with_crops(order, rank):
    g = torch.Generator().manual_seed(rank)
    grid, block = (3, 2)[:rank], (4, 5)[:rank]
    S = torch.randn(2, 3, *grid, dtype=torch.float64, generator=g)
    T = torch.randn(3, *block, dtype=torch.float64, generator=g)
    ref = (kron_reference if order == 'ST' else kron_ts_reference)(S, T)
    full = tuple(a * b for a, b in zip(grid, block))
    torch.testing.assert_close(compose(S, T, full, order), ref)
    crop = tuple(n - 3 for n in full)
    W = compose(S, T, crop, order)
    torch.testing.assert_close(W, ref[(..., *(slice(n) for n in crop))])


def test_the_orders_differ_by_perfect_shuffles_on_one_grid():
    L, K, A, B, o, i = 2, 3, 2, 3, 4, 5
    S = torch.randn(L, K, A, B, dtype=torch.float64)
    T = torch.randn(K, o, i, dtype=torch.float64)
    st = compose(S, T, (A * o, B * i), 'ST')
    ts = compose(S, T, (A * o, B * i), 'TS')
    # Row p*A + a of 'TS' is row a*o + p of 'ST'; columns likewise.
    rows = torch.tensor([a * o + p for p in range(o) for a in range(A)])
    cols = torch.tensor([b * i + q for q in range(i) for b in range(B)])
    assert torch.equal(ts, st[:, rows][:, :, cols])
    assert not torch.equal(ts, st)


@pytest.mark.parametrize('order', ['ST', 'TS'])
@pytest.mark.parametrize('chunks', [1, 3])
@pytest.mark.parametrize('shape,block', [((7, 11), (4, 5)), ((9, ), (4, ))])
def test_to_blocks_inverts_the_layout(order, chunks, shape, block):
    shape = (shape[0] * chunks, *shape[1:])
    if order == 'TS':
        block = (block[0] * chunks, *block[1:])
    W = torch.randn(2, *shape, dtype=torch.float64)
    blocks = to_blocks(W, block, order, chunks)
    grid = grid_shape(shape, block, order, chunks)
    assert blocks.shape == (2, *grid, *block)
    assert torch.equal(from_blocks(blocks, shape, order, chunks), W)
    # compose places sum_k S[l, k, a, b] T[k] at the blocks to_blocks
    # reads back.
    full = tuple(g * b for g, b in zip(grid, block))
    S = torch.randn(2, 3, *grid, dtype=torch.float64)
    T = torch.randn(3, *block, dtype=torch.float64)
    weighed = torch.einsum('lk...,kx->l...x', S, T.flatten(1))
    composed = compose(S, T, full, order, chunks)
    torch.testing.assert_close(
        to_blocks(composed, block, order, chunks).flatten(-len(block)),
        weighed)


@pytest.mark.parametrize('order', ['ST', 'TS'])
@pytest.mark.parametrize('rank', [1, 2])
def test_a_weight_of_parts_is_composed_and_cropped_part_by_part(order, rank):
    # qkv of width 6 from blocks of 4: each part built at 8 and cropped.
    d, width, K = 4, 6, 3
    part_block = (d, d)[:rank]
    block = (3 * d, *part_block[1:]) if order == 'TS' else part_block
    shape = (3 * width, width)[:rank]
    grid = grid_shape(shape, block, order, 3)
    assert grid == ((6, 2) if order == 'ST' else (2, 2))[:rank]
    S = torch.randn(2, K, *grid, dtype=torch.float64)
    T = torch.randn(K, *block, dtype=torch.float64)
    W = compose(S, T, shape, order, 3)
    part = (width, width)[:rank]
    for c in range(3):
        if order == 'ST':
            s, t = S[:, :, 2 * c:2 * c + 2], T
        else:
            s, t = S, T[:, d * c:d * (c + 1)]
        torch.testing.assert_close(W[:, width * c:width * (c + 1)],
                                   compose(s, t, part, order))
    if order == 'ST' and rank == 2:
        # The fused kernels' route: one layer per part.
        split = compose(split_scalers(S, 2, 3), T, part)
        torch.testing.assert_close(join_rows(split, 2, 3), W)


def test_parts_are_checked():
    with pytest.raises(ValueError, match='divisible by 3'):
        grid_shape((10, 6), (4, 4), 'ST', 3)
    with pytest.raises(ValueError, match='divisible by 3'):
        grid_shape((12, 4), (4, 4), 'TS', 3)
    with pytest.raises(ValueError, match='not of 3 parts'):
        compose(
            torch.randn(1, 2, 4, 2), torch.randn(2, 4, 4), (12, 6), 'ST', 3)
    with pytest.raises(ValueError, match="kron_order must be one of"):
        compose(torch.randn(1, 2, 1, 1), torch.randn(2, 4, 4), (4, 4), 'TT')


def test_resample_grid_keeps_the_parts_apart():
    # 'ST' scalers of 3 parts of 2 block rows each.
    S = torch.arange(6.).view(1, 1, 6, 1)
    assert resample_grid(S, (3, 1), 'crop', 'ST',
                         3).flatten().tolist() == [0, 2, 4]
    assert resample_grid(S, (3, 1), 'mean', 'ST',
                         3).flatten().tolist() == [.5, 2.5, 4.5]
    assert resample_grid(S, (9, 1), 'crop', 'ST',
                         3).flatten().tolist() == [0, 1, 0, 2, 3, 2, 4, 5, 4]
    # 'TS' parts share the grid: resampled as one.
    assert torch.equal(
        resample_grid(S, (3, 1), 'crop', 'TS', 3), resample_grid(S, (3, 1)))
    assert torch.equal(
        resample_scalers(S, 1, (3, 1), 'mean', 'ST', 3),
        resample_grid(S, (3, 1), 'mean', 'ST', 3))


def test_resample_channels_follows_the_order():
    # 'TS': channel p*A + a is in block a.
    w = torch.arange(12.).view(2, 6)  # width 6, A = 3 blocks of 2
    blocks = w.view(2, 2, 3)  # [C, p, a]
    torch.testing.assert_close(
        resample_channels(w, 4, 2, 'crop', 'TS'),
        blocks[:, :, :2].reshape(2, 4))
    torch.testing.assert_close(
        resample_channels(w, 12, 2, 'crop', 'TS'),
        torch.cat([blocks, blocks], 2).reshape(2, 12) / 2)
    # Crops inside the last block keep the top-left channels.
    torch.testing.assert_close(
        resample_channels(w, 3, 2, 'scaled', 'TS'),
        blocks[:, :, :2].reshape(2, 4)[:, :3] * 4 / 3)


@pytest.mark.parametrize('grid,block', [((2, 3), (4, 5)), ((1, 4), (3, 2))])
def test_st_as_ts_reads_the_st_product_in_ts_order(grid, block):
    """For one grid the orders differ by fixed permutations: the 'ST'
    product of the same factors, read by ``st_as_ts``, is the 'TS' one."""
    torch.manual_seed(0)
    S = torch.randn(3, 2, *grid, dtype=torch.float64)
    T = torch.randn(2, *block, dtype=torch.float64)
    shape = (grid[0] * block[0], grid[1] * block[1])
    assert torch.equal(
        st_as_ts(compose(S, T, shape, 'ST'), grid), compose(S, T, shape, 'TS'))
