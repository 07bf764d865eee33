"""KroneckerProjectionInit: the best K Kronecker terms of the ancestry."""
import logging

import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.registry import MODELS

from wave_mm.core import ViTLayout
from wave_mm.models.backbones.kronecker_projection import block_rows

ARCH = dict(embed_dims=64, num_layers=2, num_heads=2, feedforward_channels=128)


def ancestry(tmp_path, dtype=torch.float32, arch=ARCH):
    torch.manual_seed(1)
    vit = VisionTransformer(arch=arch, img_size=16, patch_size=4)
    with torch.no_grad():
        for param in vit.parameters():
            param.normal_()
    vit.to(dtype)
    path = str(tmp_path / 'ancestry.pth')
    torch.save({f'backbone.{k}': v for k, v in vit.state_dict().items()}, path)
    return vit, path


# (kron_order, fused_qkv) of the auxiliary.
OPTIONS = [('ST', False), ('TS', False), ('ST', True), ('TS', True)]
IDS = ['ST', 'TS', 'ST-fused', 'TS-fused']


def projected(path, num_templates, projection=True, order='ST', fused=False):
    init = dict(type='KroneckerProjectionInit', checkpoint=path)
    return MODELS.build(
        dict(
            type='WaveTemplate',
            arch=ARCH,
            img_size=16,
            patch_size=4,
            template_width=32,
            num_templates=num_templates,
            kron_order=order,
            fused_qkv=fused,
            init_cfg=init if projection else None))


def independent_optimum(weights, block, count, order='ST', chunks=1):
    """||M - M_K|| / ||M|| from numpy's SVD of the block rows, built here by
    loops over layers, parts and blocks (whole blocks only): for 'ST' a
    block is a tile of the weight, for 'TS' every A-th row and B-th column
    (and a 'TS' template the parts' blocks stacked); ``block`` is one
    part's."""
    rows = []
    for layer in weights.double().numpy():
        cut = []  # per part: its blocks by (a, b)
        for part in np.split(layer, chunks):
            grid = [n // b for n, b in zip(part.shape, block)]
            blocks = {}
            for a in range(grid[0]):
                for b in range(grid[1] if len(grid) > 1 else 1):
                    if order == 'ST':
                        tile = part[a * block[0]:(a + 1) * block[0]]
                        if len(grid) > 1:
                            tile = tile[:, b * block[1]:(b + 1) * block[1]]
                    else:
                        tile = part[a::grid[0]]
                        if len(grid) > 1:
                            tile = tile[:, b::grid[1]]
                    blocks[a, b] = tile.ravel()
            cut.append(blocks)
        if order == 'ST':
            rows += [r for blocks in cut for r in blocks.values()]
        else:
            rows += [np.concatenate([c[k] for c in cut]) for k in cut[0]]
    sigma = np.linalg.svd(np.stack(rows), compute_uv=False)
    return np.sqrt((sigma[count:]**2).sum() / (sigma**2).sum())


@pytest.mark.parametrize('order,fused', OPTIONS, ids=IDS)
def test_error_per_type_is_the_svd_optimum(tmp_path, order, fused):
    vit, path = ancestry(tmp_path)
    aux = projected(path, 3, order=order, fused=fused)
    aux.init_weights()
    layout = ViTLayout(vit, available=aux.layout.types)
    source = layout.from_state_dict(vit.state_dict())
    with torch.no_grad():
        composed = aux.bank()
    for name, spec in aux.bank.specs.items():
        target = source[name]
        error = float((composed[name] - target).norm() / target.norm())
        block = spec.block
        if order == 'TS' and aux.bank.chunks[name] > 1:
            block = (block[0] // 3, *block[1:])
        optimum = independent_optimum(target, block, spec.count, order,
                                      aux.bank.chunks[name])
        assert error == pytest.approx(optimum, rel=1e-4, abs=1e-6), name
    assert 0 < min(aux_init_energy(path).values()) < 1


def aux_init_energy(path):
    from wave_mm.models import KroneckerProjectionInit
    init = KroneckerProjectionInit(checkpoint=path)
    aux = projected(path, 3, projection=False)
    init(aux)
    return init.energy


@pytest.mark.parametrize('order,fused', OPTIONS, ids=IDS)
def test_enough_templates_reproduce_the_ancestry(tmp_path, order, fused):
    vit, path = ancestry(tmp_path, torch.float64)
    # 2 layers x 2 x 2 blocks: 8 rows for the widest type, 8 templates;
    # 24 for an 'ST' qkv (3 parts of 2 x 2 blocks).
    count = 24 if fused and order == 'ST' else 8
    aux = projected(path, count, order=order, fused=fused).double()
    aux.init_weights()
    state = aux.to_vit_state_dict()
    for name, value in vit.state_dict().items():
        torch.testing.assert_close(state[name], value, atol=1e-10, rtol=0)


def test_the_init_log_credits_it(tmp_path):
    _, path = ancestry(tmp_path)
    aux = projected(path, 2)
    # A logger of its own: one with a file handler writes the init log
    # to its file instead.
    logger = MMLogger.get_instance(f'projection-{id(tmp_path)}')
    records = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        aux.init_weights()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    credited = [r for r in records if 'bank.templates.q ' in r]
    assert credited and 'KroneckerProjectionInit' in credited[0]
    assert any('captured energy' in r for r in records)


def test_another_arch_is_refused(tmp_path):
    _, path = ancestry(tmp_path, arch=dict(ARCH, num_layers=1))
    with pytest.raises(ValueError, match="ancestry.pth: no 'layers.1"):
        projected(path, 2).init_weights()
    _, path = ancestry(tmp_path, arch=dict(ARCH, embed_dims=96, num_heads=3))
    with pytest.raises(ValueError, match='ancestry.pth: .* shape'):
        projected(path, 2).init_weights()


def test_block_rows_is_the_block_matrix():
    weights = torch.arange(2 * 4 * 6.).reshape(2, 4, 6)
    rows = block_rows(weights, (2, 3))
    assert rows.shape == (8, 6)
    torch.testing.assert_close(rows[1], weights[0, :2, 3:].reshape(-1))
    torch.testing.assert_close(rows[6], weights[1, 2:, :3].reshape(-1))
    padded = block_rows(torch.ones(1, 5), (4, ))
    assert torch.equal(padded, torch.tensor([[1., 1, 1, 1], [1, 0, 0, 0]]))


def test_block_rows_of_the_order_ts_and_of_parts():
    weights = torch.arange(2 * 4 * 6.).reshape(2, 4, 6)
    # 'TS': block (a, b) of a 2 x 2 grid is every other row and column.
    rows = block_rows(weights, (2, 3), 'TS')
    torch.testing.assert_close(rows[1], weights[0, 0::2, 1::2].reshape(-1))
    torch.testing.assert_close(rows[6], weights[1, 1::2, 0::2].reshape(-1))
    # 'ST', 2 parts of 2 rows: part 1's block (0, 1) is row (l, 2, 1).
    rows = block_rows(weights, (1, 3), 'ST', 2)
    torch.testing.assert_close(rows[5], weights[0, 2, 3:])
