"""The held-out check of fit_scalers: the split, the evaluation, the best
state kept (the data-free start included) and early stopping."""
import numpy as np
import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from wave_helpers import tiny_classifier_cfg, tiny_vit_cfg

from wave_mm.models import WaveTarget
from wave_mm.models.initializers import build_optim_wrapper, fit_scalers
from wave_mm.models.initializers.scaler_holdout import (check_holdout,
                                                        check_schedule,
                                                        evaluate_holdout,
                                                        holdout_count,
                                                        holdout_split)
from wave_mm.templates import load_templates


def _batches(label, n=2, seed=0):
    """``n`` batches of 4 random images, all labelled ``label``."""
    torch.manual_seed(seed)
    return [
        dict(
            inputs=[
                torch.randint(0, 255, (3, 16, 16)).float() for _ in range(4)
            ],
            data_samples=[DataSample().set_gt_label(label) for _ in range(4)])
        for _ in range(n)
    ]


def _setup(templates_file):
    model = MODELS.build(tiny_classifier_cfg(tiny_vit_cfg()))
    model.init_weights()  # the head starts at zero: it predicts class 0
    target = WaveTarget(model.backbone, load_templates(templates_file))
    groups = [
        dict(params=list(target.bank.scalers.parameters()), lr=1e-2),
        dict(params=list(model.head.parameters()), lr=1e-2)
    ]
    wrapper = build_optim_wrapper(
        torch.optim.AdamW(groups), torch.device('cpu'))
    extra = [n for n, _ in model.named_parameters() if n.startswith('head')]
    return model, target, wrapper, extra


def _state(model, target):
    state = {f'scalers.{k}': v.clone() for k, v in target.bank.scalers.items()}
    state.update({k: v.clone() for k, v in model.state_dict().items()})
    return state


def test_split_is_disjoint_deterministic_and_covers():
    fit, held = holdout_split(50, 0.1, seed=3)
    assert len(held) == 5 and len(fit) == 45
    assert not set(fit) & set(held)
    assert sorted(fit + held) == list(range(50))
    assert holdout_split(50, 0.1, seed=3) == (fit, held)
    assert holdout_split(50, 0.1, seed=4) != (fit, held)
    assert len(holdout_split(50, 7, seed=3)[1]) == 7
    assert holdout_split(50, 0, seed=3) == (list(range(50)), [])


def test_holdout_count():
    assert holdout_count(0.1, 16) == 2  # rounded
    assert holdout_count(0.01, 16) == 1  # at least one image
    assert holdout_count(0.0, 16) == 0 and holdout_count(0, 16) == 0
    assert holdout_count(15, 16) == 15


@pytest.mark.parametrize('holdout', [-1, -0.1, 1.0, 1.5, True, '0.1', None])
def test_holdout_errors(holdout):
    with pytest.raises(ValueError, match=f'holdout must be .*{holdout!r}'):
        check_holdout(holdout)


def test_holdout_errors_of_the_dataset_size():
    with pytest.raises(ValueError, match='holdout=17 is larger than .*16'):
        holdout_count(17, 16)
    with pytest.raises(ValueError, match='holdout=16 leaves no training'):
        holdout_count(16, 16)
    with pytest.raises(ValueError, match='holdout=0.99 leaves no training'):
        holdout_count(0.99, 16)


@pytest.mark.parametrize('name', ['eval_interval', 'patience'])
@pytest.mark.parametrize('value', [0, -2, 1.5, True])
def test_schedule_errors(name, value):
    args = dict(eval_interval=5, patience=None)
    args[name] = value
    with pytest.raises(ValueError, match=f'{name} must be .*{value!r}'):
        check_schedule(**args)


def test_fit_scalers_refuses_a_bad_schedule_before_changing_anything(
        templates_file):
    model, target, wrapper, extra = _setup(templates_file)
    before = _state(model, target)
    with pytest.raises(ValueError, match='eval_interval must be'):
        fit_scalers(
            model,
            target,
            _batches(1),
            4,
            wrapper,
            extra=extra,
            holdout_loader=_batches(1),
            eval_interval=0)
    after = _state(model, target)
    assert all(torch.equal(after[k], v) for k, v in before.items())


def test_fit_that_hurts_keeps_the_start_and_stops_early(templates_file):
    """Fit on class 1, held out class 0: every step moves away from the
    start (which predicts class 0 everywhere)."""
    model, target, wrapper, extra = _setup(templates_file)
    start = _state(model, target)
    lines = []
    record = fit_scalers(
        model,
        target,
        _batches(1),
        20,
        wrapper,
        extra=extra,
        log=lines.append,
        log_interval=100,
        holdout_loader=_batches(0, seed=1),
        eval_interval=2,
        patience=2)
    held = record['holdout']
    assert record['iters'] == 4 and held['stopped_at'] == 4
    assert [e[0] for e in held['evaluations']] == [0, 2, 4]
    assert held['kept'] == 'start' and held['best']['iter'] == 0
    assert held['images'] == 8
    assert held['start'] == dict(accuracy=100.0, loss=held['start']['loss'])
    assert held['best']['accuracy'] == held['start']['accuracy']
    # The fit did move (worse held-out loss), and was undone bit for bit.
    assert all(e[2] > held['start']['loss'] for e in held['evaluations'][1:])
    end = _state(model, target)
    for name, value in start.items():
        assert torch.equal(end[name], value), name
    assert any('stopped' in line for line in lines)
    assert lines[-1] == 'kept the data-free start'


def test_fit_that_helps_keeps_the_fit(templates_file):
    model, target, wrapper, extra = _setup(templates_file)
    start = _state(model, target)
    record = fit_scalers(
        model,
        target,
        _batches(1),
        6,
        wrapper,
        extra=extra,
        holdout_loader=_batches(1, seed=1),
        eval_interval=4,
        patience=None)
    held = record['holdout']
    assert record['iters'] == 6 and held['stopped_at'] is None
    assert [e[0] for e in held['evaluations']] == [0, 4, 6]
    assert held['start']['accuracy'] == 0.0
    assert held['kept'] == 'fit' and held['best']['iter'] in (4, 6)
    assert held['best']['accuracy'] == 100.0
    end = _state(model, target)
    assert any(not torch.equal(end[k], v) for k, v in start.items())
    # The best state is in place: evaluating it again gives its score.
    score = evaluate_holdout(model, target, _batches(1, seed=1),
                             wrapper.optim_context)
    assert round(score['loss'], 4) == held['best']['loss']


class _NoisyBatches:
    """Batches whose images draw NumPy noise when read, like random train
    transforms."""

    def __iter__(self):
        for batch in _batches(0):
            noise = np.random.uniform(0, 50, (3, 16, 16))
            yield dict(
                inputs=[
                    x + torch.from_numpy(noise).float()
                    for x in batch['inputs']
                ],
                data_samples=batch['data_samples'])


def test_evaluation_reads_the_same_images_and_leaves_the_rng(templates_file):
    model, target, wrapper, _ = _setup(templates_file)
    with torch.no_grad():
        model.head.layers.head.weight.normal_()
    np.random.seed(5)
    torch.manual_seed(5)
    a = evaluate_holdout(model, target, _NoisyBatches(), wrapper.optim_context)
    b = evaluate_holdout(model, target, _NoisyBatches(), wrapper.optim_context)
    assert a == b and a['images'] == 8
    # The caller's random streams continue as if nothing had been drawn.
    drawn = np.random.uniform(), torch.rand(1)
    np.random.seed(5)
    torch.manual_seed(5)
    assert drawn == (np.random.uniform(), torch.rand(1))
    assert model.training
