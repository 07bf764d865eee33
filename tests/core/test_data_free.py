"""The data-free rule: identity for the auxiliary's own arch, first layers
for shallower targets, rescaled readers for other widths."""
import torch

from wave_mm.core import data_free_scalers
from wave_mm.templates import TemplateSpec

SPECS = {'q': TemplateSpec((4, 4), 2), 'ln1_weight': TemplateSpec((4, ), 2)}
ARCH = dict(embed_dims=8, feedforward_channels=16)


def _source():
    torch.manual_seed(0)
    return {'q': torch.randn(4, 2, 2, 2), 'ln1_weight': torch.randn(4, 2, 2)}


def test_identity_for_the_auxiliary_arch():
    source = _source()
    out = data_free_scalers(source, SPECS, ARCH, {
        'q': (8, 8),
        'ln1_weight': (8, )
    }, {
        'q': 4,
        'ln1_weight': 4
    })
    for name, value in source.items():
        assert torch.equal(out[name], value)


def test_shallower_takes_the_first_layers():
    source = _source()
    out = data_free_scalers(source, SPECS, ARCH, {'q': (8, 8)}, {'q': 2})
    assert torch.equal(out['q'], source['q'][:2])
    deeper = data_free_scalers(source, SPECS, ARCH, {'q': (8, 8)}, {'q': 7})
    assert deeper['q'].shape == (7, 2, 2, 2)
    assert torch.equal(deeper['q'][0], source['q'][0])
    assert torch.equal(deeper['q'][-1], source['q'][-1])


def test_wider_repeats_blocks_and_rescales_readers():
    source = _source()
    out = data_free_scalers(source, SPECS, ARCH, {
        'q': (16, 16),
        'ln1_weight': (16, )
    }, {
        'q': 4,
        'ln1_weight': 4
    })
    # q reads the residual width: twice as wide, half the weight.
    torch.testing.assert_close(out['q'][:, :, :2, :2], source['q'] / 2)
    torch.testing.assert_close(out['ln1_weight'][:, :, 2:],
                               source['ln1_weight'])
    crop = data_free_scalers(source, SPECS, ARCH, {'q': (16, 16)}, {'q': 4},
                             'crop')
    torch.testing.assert_close(crop['q'][:, :, 2:, 2:], source['q'])
