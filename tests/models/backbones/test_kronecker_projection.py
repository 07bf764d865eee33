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


def projected(path, num_templates, projection=True):
    init = dict(type='KroneckerProjectionInit', checkpoint=path)
    return MODELS.build(
        dict(
            type='WaveTemplate',
            arch=ARCH,
            img_size=16,
            patch_size=4,
            template_width=32,
            num_templates=num_templates,
            init_cfg=init if projection else None))


def independent_optimum(weights, block, count):
    """||M - M_K|| / ||M|| from numpy's SVD of the block rows, built here by
    loops over layers and blocks."""
    rows = []
    for layer in weights.double().numpy():
        if len(block) == 1:
            for a in range(0, layer.shape[0], block[0]):
                rows.append(layer[a:a + block[0]])
        else:
            for a in range(0, layer.shape[0], block[0]):
                for b in range(0, layer.shape[1], block[1]):
                    rows.append(layer[a:a + block[0], b:b + block[1]].ravel())
    sigma = np.linalg.svd(np.stack(rows), compute_uv=False)
    return np.sqrt((sigma[count:]**2).sum() / (sigma**2).sum())


def test_error_per_type_is_the_svd_optimum(tmp_path):
    vit, path = ancestry(tmp_path)
    aux = projected(path, 3)
    aux.init_weights()
    layout = ViTLayout(vit)
    source = layout.from_state_dict(vit.state_dict())
    with torch.no_grad():
        composed = aux.bank()
    for name, spec in aux.bank.specs.items():
        target = source[name]
        error = float((composed[name] - target).norm() / target.norm())
        optimum = independent_optimum(target, spec.block, spec.count)
        assert error == pytest.approx(optimum, rel=1e-4, abs=1e-6), name
    assert 0 < min(aux_init_energy(path).values()) < 1


def aux_init_energy(path):
    from wave_mm.models import KroneckerProjectionInit
    init = KroneckerProjectionInit(checkpoint=path)
    aux = projected(path, 3, projection=False)
    init(aux)
    return init.energy


def test_enough_templates_reproduce_the_ancestry(tmp_path):
    vit, path = ancestry(tmp_path, torch.float64)
    # 2 layers x 2 x 2 blocks: 8 rows for the widest type, 8 templates.
    aux = projected(path, 8).double()
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
