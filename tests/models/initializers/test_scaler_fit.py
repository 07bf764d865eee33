"""fit_scalers without a Runner: only the scalers (and named extras) move."""
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from wave_helpers import tiny_classifier_cfg, tiny_vit_cfg

from wave_mm.models import WaveTarget
from wave_mm.models.initializers import build_optim_wrapper, fit_scalers
from wave_mm.models.initializers.scaler_fit import CPUAutocastOptimWrapper
from wave_mm.templates import load_templates


def _batches(n=2):
    torch.manual_seed(0)
    return [
        dict(
            inputs=[
                torch.randint(0, 255, (3, 16, 16)).float() for _ in range(4)
            ],
            data_samples=[DataSample().set_gt_label(i % 3) for i in range(4)])
        for _ in range(n)
    ]


def _setup(templates_file):
    model = MODELS.build(tiny_classifier_cfg(tiny_vit_cfg()))
    model.init_weights()
    target = WaveTarget(model.backbone, load_templates(templates_file))
    return model, target


def test_fit_moves_scalers_and_extras_only(templates_file):
    model, target = _setup(templates_file)
    templates = {k: v.clone() for k, v in target.bank.templates.items()}
    scalers = {k: v.clone() for k, v in target.bank.scalers.items()}
    model_state = {k: v.clone() for k, v in model.state_dict().items()}
    groups = [
        dict(params=list(target.bank.scalers.parameters()), lr=1e-2),
        dict(params=list(model.head.parameters()), lr=1e-2)
    ]
    wrapper = build_optim_wrapper(
        torch.optim.AdamW(groups), torch.device('cpu'))
    lines = []
    record = fit_scalers(
        model,
        target,
        _batches(),
        3,
        wrapper,
        extra=[n for n, _ in model.named_parameters() if n.startswith('head')],
        log=lines.append,
        log_interval=1)
    assert record['iters'] == 3 and record['scalers'] == sum(
        v.numel() for v in scalers.values())
    assert len(lines) == 4 and lines[-1].startswith('iter 3/3 loss')
    for name, value in target.bank.templates.items():
        assert torch.equal(value, templates[name]), name
    assert any(not torch.equal(v, scalers[k])
               for k, v in target.bank.scalers.items())
    moved = {
        name
        for name, value in model.state_dict().items()
        if not torch.equal(value, model_state[name])
    }
    assert moved and all(name.startswith('head.') for name in moved)
    assert all(p.requires_grad for p in model.parameters())


def test_cpu_autocast_wrapper():
    param = torch.nn.Parameter(torch.ones(2, 2))
    wrapper = build_optim_wrapper(
        torch.optim.SGD([param], lr=0.1), torch.device('cpu'), torch.bfloat16)
    assert isinstance(wrapper, CPUAutocastOptimWrapper)
    with wrapper.optim_context(torch.nn.Linear(1, 1)):
        assert (param @ param).dtype == torch.bfloat16
