import torch

from wave_mm.core import tleg_scalers


def test_tleg_scalers_are_one_and_l_over_L():
    s = tleg_scalers(4, 2)
    assert s.shape == (4, 2, 1, 1)
    assert torch.equal(s[:, 0].flatten(), torch.ones(4))
    assert torch.equal(s[:, 1].flatten(), torch.tensor([.25, .5, .75, 1.]))
    assert tleg_scalers(3, 1).shape == (3, 2, 1)
