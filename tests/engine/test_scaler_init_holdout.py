"""The ScalerInitHook's held-out check: the split of the train dataset, the
best state written into the model, the record, the old path at
``holdout=0`` and argument errors."""
import json
import os.path as osp

import pytest
import torch
from mmengine.runner import Runner
from mmpretrain.registry import DATASETS
from test_scaler_init_hook import _cfg, _data_free, _fit_only

from wave_mm.datasets.synthetic import SyntheticImageNet
from wave_mm.engine import ScalerInitHook
from wave_mm.models.initializers import build_optim_wrapper, fit_scalers
from wave_mm.models.initializers.scaler_holdout import holdout_split
from wave_mm.models.initializers.wave_init import WaveInit
from wave_mm.templates import load_scalers

SEED = 7


@DATASETS.register_module(force=True)
class LabelledByIndex(SyntheticImageNet):
    """Synthetic images, class 0 at ``zeros`` and class 1 elsewhere."""

    def __init__(self, zeros=(), **kwargs) -> None:
        self.zeros = set(zeros)
        super().__init__(**kwargs)

    def load_data_list(self):
        return [
            dict(gt_label=int(i not in self.zeros), sample_idx=i)
            for i in range(self.num_samples)
        ]


def _labelled_cfg(templates, work_dir, zeros, **hook):
    cfg = _cfg(templates, work_dir, **dict(dict(holdout_seed=SEED), **hook))
    cfg.train_dataloader.dataset.update(type='LabelledByIndex', zeros=zeros)
    return cfg


def _run(cfg, lines=None):
    """Runner start + the hook, its log lines into ``lines``."""
    runner = Runner.from_cfg(cfg)
    if lines is not None:
        runner.logger.info = lines.append
    runner.call_hook('before_run')
    runner._init_model_weights()
    runner.call_hook('before_train')
    return runner


def _record(work_dir):
    return json.load(open(osp.join(work_dir, 'scaler_init.json')))


def test_fit_that_hurts_leaves_the_data_free_start(templates_file, tmp_path):
    # The held-out images are class 0 (what the zero head predicts), the
    # others class 1: fitting them can only hurt on the held-out ones.
    held = holdout_split(16, 4, SEED)[1]
    runner = _run(
        _labelled_cfg(
            templates_file,
            str(tmp_path),
            held,
            holdout=4,
            eval_interval=2,
            patience=2,
            iters=20))
    record = _record(tmp_path)
    assert record['iters'] == 4 and record['holdout']['stopped_at'] == 4
    assert record['holdout']['kept'] == 'start'
    assert record['holdout']['start']['accuracy'] == 100.0
    assert record['holdout']['images'] == 4
    state = runner.model.backbone.state_dict()
    for name, value in _data_free(templates_file).items():
        assert torch.equal(state[name], value), name
    assert runner.model.head.layers.head.weight.abs().sum() == 0


def test_fit_that_helps_is_kept(templates_file, tmp_path):
    lines = []
    _run(_labelled_cfg(templates_file, str(tmp_path), (), holdout=4), lines)
    record = _record(tmp_path)
    held = record['holdout']
    assert held['kept'] == 'fit' and held['stopped_at'] is None
    assert held['start']['accuracy'] == 0.0
    assert held['best']['accuracy'] == 100.0
    assert record['iters'] == 6 and held['best']['iter'] == 6
    # Both numbers reach the log: per evaluation and in the record line.
    assert any(
        line.startswith('ScalerInitHook: held-out start: acc 0.00')
        for line in lines)
    assert any(
        line.startswith('ScalerInitHook: held-out iter 6: acc 100.00')
        for line in lines)
    last = [line for line in lines if line.startswith('ScalerInitHook: {')]
    logged = json.loads(last[-1][len('ScalerInitHook: '):])
    assert logged['holdout'] == held


def test_split_follows_the_seed(templates_file, tmp_path):
    """Class 0 is held out with seed 7; another seed holds out others."""
    held = holdout_split(16, 4, SEED)[1]
    _run(
        _labelled_cfg(
            templates_file,
            str(tmp_path),
            held,
            holdout=4,
            holdout_seed=SEED + 1))
    assert _record(tmp_path)['holdout']['start']['accuracy'] < 100


def test_holdout_zero_is_the_old_path(templates_file, tmp_path):
    """``holdout=0`` fits on the runner's loader as before the check: the
    same scalers as ``fit_scalers`` called on it directly."""
    _fit_only(_cfg(templates_file, str(tmp_path / 'a'), holdout=0))
    assert 'holdout' not in _record(tmp_path / 'a')
    fitted = load_scalers(str(tmp_path / 'a' / 'scalers.safetensors'))
    runner = _fit_only(_cfg(templates_file, str(tmp_path / 'b'), iters=0))
    model = runner.model
    target = WaveInit.of(model).target(model)
    groups = [
        dict(
            params=list(target.bank.scalers.parameters()),
            lr=1e-2,
            weight_decay=0.0),
        dict(params=list(model.head.parameters()), lr=1e-3)
    ]
    wrapper = build_optim_wrapper(
        torch.optim.AdamW(groups), torch.device('cpu'))
    extra = [n for n, _ in model.named_parameters() if n.startswith('head')]
    fit_scalers(
        model, target, runner.train_dataloader, 6, wrapper, extra=extra)
    for name, value in target.scalers_data().scalers.items():
        assert torch.equal(fitted.scalers[name], value), name


@pytest.mark.parametrize('kwargs, match', [
    (dict(holdout=-1), 'holdout must be .* got -1'),
    (dict(holdout=1.0), 'holdout must be .* got 1.0'),
    (dict(holdout='10%'), "holdout must be .* got '10%'"),
    (dict(eval_interval=0), 'eval_interval must be .* got 0'),
    (dict(patience=0), 'patience must be .* got 0'),
    (dict(holdout_seed=1.5), 'holdout_seed must be .* got 1.5'),
])
def test_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ScalerInitHook(**kwargs)


@pytest.mark.parametrize('holdout, match', [
    (17, 'holdout=17 is larger than the train dataset \\(16 images\\)'),
    (16, 'holdout=16 leaves no training images'),
])
def test_holdout_too_large_changes_nothing(templates_file, tmp_path, holdout,
                                           match):
    with pytest.raises(ValueError, match=match):
        _fit_only(_cfg(templates_file, str(tmp_path), holdout=holdout))
    assert not osp.exists(tmp_path / 'scalers.safetensors')
    assert not osp.exists(tmp_path / 'scaler_init.json')
