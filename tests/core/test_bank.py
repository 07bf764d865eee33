"""TemplateBank: sum_k S_k ⊗ T_k for every type, and its tensors."""
import pytest
import torch

from wave_mm.core import TemplateBank
from wave_mm.templates import TemplateSpec

SPECS = {
    'q': TemplateSpec((2, 3), 2),
    'k': TemplateSpec((2, 3), 2),
    'ln1_weight': TemplateSpec((4, ), 3, 'ones'),
}
SHAPES = {'q': (4, 6), 'k': (4, 6), 'ln1_weight': (7, )}
DEPTHS = {'q': 3, 'k': 3, 'ln1_weight': 3}


@pytest.fixture
def bank():
    torch.manual_seed(0)
    return TemplateBank(SPECS, SHAPES, DEPTHS).double()


def test_weights_are_sums_of_kronecker_products(bank):
    weights = bank()
    for name in ('q', 'k'):
        s, t = bank.scalers[name], bank.templates[name]
        for layer in range(3):
            expected = sum(torch.kron(s[layer, k], t[k]) for k in range(2))
            torch.testing.assert_close(weights[name][layer], expected)
    s, t = bank.scalers['ln1_weight'], bank.templates['ln1_weight']
    expected = sum(torch.kron(s[1, k], t[k]) for k in range(3))[:7]
    torch.testing.assert_close(weights['ln1_weight'][1], expected)


def test_the_order_ts_composes_templates_first():
    torch.manual_seed(0)
    bank = TemplateBank(SPECS, SHAPES, DEPTHS, order='TS').double()
    weights = bank()
    s, t = bank.scalers['k'], bank.templates['k']
    expected = sum(torch.kron(t[k], s[2, k]) for k in range(2))
    torch.testing.assert_close(weights['k'][2], expected)
    with pytest.raises(ValueError, match='kron_order must be one of'):
        TemplateBank(SPECS, SHAPES, DEPTHS, order='T')


def test_a_fused_type_is_composed_part_by_part():
    # qkv of width 3 from 2-wide blocks: a grid of 3 x 2 rows, 2 columns.
    bank = TemplateBank({
        'qkv': TemplateSpec((2, 2), 2)
    }, {
        'qkv': (9, 3)
    }, {
        'qkv': 2
    }).double()
    assert bank.scalers.shape('qkv') == (2, 2, 6, 2)
    w, s = bank()['qkv'], bank.scalers['qkv']
    for c in range(3):
        part = sum(
            torch.kron(s[1, k, 2 * c:2 * c + 2], bank.templates['qkv'][k])
            for k in range(2))
        torch.testing.assert_close(w[1, 3 * c:3 * c + 3], part[:3, :3])


def test_types_of_one_shape_share_a_batched_composition(bank):
    assert ('q', 'k') in bank.fused


def test_init_scale_and_freezing(bank):
    # Norm scales start near one, everything else near 0.02 std.
    assert abs(float(bank()['ln1_weight'].mean()) - 1) < 0.1
    bank.freeze_templates()
    assert not any(p.requires_grad for p in bank.templates.values())
    assert all(p.requires_grad for p in bank.scalers.values())
    assert bank.num_scalers() == 2 * (3 * 2 * 2 * 2) + 3 * 3 * 2


def test_load_tensors_checks_names_and_shapes(bank):
    templates = {k: torch.ones_like(v) for k, v in bank.templates.items()}
    bank.load_tensors(templates)
    assert all(bool((v == 1).all()) for v in bank.templates.values())
    with pytest.raises(KeyError, match="templates for weight type 'k'"):
        bank.load_tensors({'q': templates['q']})
    with pytest.raises(ValueError, match="templates of 'q' have shape"):
        bank.load_tensors(dict(templates, q=torch.ones(1)))


def test_specs_shapes_and_depths_must_agree():
    with pytest.raises(ValueError, match='must name the same weight types'):
        TemplateBank(SPECS, {'q': (4, 6)}, DEPTHS)
