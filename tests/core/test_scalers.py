"""LayerScalers: a parameter per layer, read stacked."""
import torch

from wave_mm.core import LayerScalers


def test_stacked_reads_per_layer_parameters():
    scalers = LayerScalers({'q': (3, 2, 2, 2), 'ln1_weight': (3, 2, 4)})
    value = torch.randn(3, 2, 2, 2)
    scalers.assign('q', value)
    assert torch.equal(scalers['q'], value)
    assert scalers.shape('q') == (3, 2, 2, 2)
    assert set(scalers) == {'q', 'ln1_weight'} and 'q' in scalers
    assert sorted(n for n, _ in scalers.named_parameters())[:3] == [
        'ln1_weight.0', 'ln1_weight.1', 'ln1_weight.2'
    ]
    assert scalers.grad('q') is None
    scalers['q'].sum().backward()
    assert torch.equal(scalers.grad('q'), torch.ones(3, 2, 2, 2))


def test_loads_stacked_checkpoints():
    """Checkpoints written before the per-layer split still load."""
    scalers = LayerScalers({'q': (3, 2, 2, 2)})
    value = torch.randn(3, 2, 2, 2)
    scalers.load_state_dict({'q': value})
    assert torch.equal(scalers['q'], value)
    again = LayerScalers({'q': (3, 2, 2, 2)})
    again.load_state_dict(scalers.state_dict())
    assert torch.equal(again['q'], value)
