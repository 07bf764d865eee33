"""Fitting a target's scalers on data: the loop of the ``ScalerInitHook``,
usable without a Runner.

Only the scalers (and, optionally, a few named non-templated parameters such
as a new head) train, with the model's own loss; the templates stay frozen.
Mixed precision and gradient scaling are the optim wrapper's (MMEngine's
``AmpOptimWrapper`` on accelerators).
"""
from contextlib import contextmanager
from typing import Callable, Dict, Iterable, Iterator, Optional, Sequence

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from torch import nn

from wave_mm.core import soft_distill_loss
from .wave_target import WaveTarget


class CPUAutocastOptimWrapper(OptimWrapper):
    """An ``OptimWrapper`` whose ``optim_context`` autocasts on the CPU,
    where MMEngine's ``AmpOptimWrapper`` is not available (bfloat16 needs no
    loss scaling)."""

    def __init__(self, dtype: torch.dtype, **kwargs) -> None:
        super().__init__(**kwargs)
        self.cast_dtype = dtype

    @contextmanager
    def optim_context(self, model: nn.Module):
        with super().optim_context(model), torch.autocast(
                'cpu', dtype=self.cast_dtype):
            yield


def build_optim_wrapper(optimizer: torch.optim.Optimizer,
                        device: torch.device,
                        dtype: Optional[torch.dtype] = None) -> OptimWrapper:
    """The optim wrapper of a fit: ``AmpOptimWrapper`` for ``dtype`` on an
    accelerator, bfloat16 autocast on the CPU, plain without ``dtype``."""
    if dtype is None:
        return OptimWrapper(optimizer=optimizer)
    if device.type == 'cpu':
        return CPUAutocastOptimWrapper(dtype, optimizer=optimizer)
    return AmpOptimWrapper(optimizer=optimizer, dtype=dtype)


def _cycle(loader: Iterable) -> Iterator:
    while True:
        yield from loader


def fit_scalers(model: nn.Module,
                target: WaveTarget,
                loader: Iterable,
                iters: int,
                optim_wrapper: OptimWrapper,
                extra: Sequence[str] = (),
                teacher: Optional[nn.Module] = None,
                alpha: float = 1.0,
                tau: float = 1.0,
                log: Callable[[str], None] = print,
                log_interval: int = 50) -> Dict[str, object]:
    """Fit ``target``'s scalers for ``iters`` iterations of ``loader``.

    The model runs through ``target``'s Kronecker view (its ViT is the
    backbone), so gradients reach the scalers; ``model`` itself is only
    read, but for the ``extra`` parameters, which train too.

    Args:
        model: An ``ImageClassifier`` whose backbone is ``target``'s ViT.
        target: The target, on ``model``'s device.
        loader: Batches as the model's data preprocessor takes them,
            cycled.
        iters: Iterations.
        optim_wrapper: Wraps an optimizer over the scalers and ``extra``.
        extra: Names of ``model`` parameters fitted too.
        teacher: Optional model for an extra ``alpha * tau^2 * KL`` term.
        alpha: Weight of the teacher term.
        tau: Temperature of the teacher term.
        log: Where progress lines go.
        log_interval: Iterations between progress lines.

    Returns:
        The fit's record: iterations, scaler count, fitted parameters, mean
        train loss and accuracy.
    """
    params = dict(model.named_parameters())
    flags = {n: p.requires_grad for n, p in params.items()}
    for name, param in params.items():
        param.requires_grad_(name in extra)
    scalers = target.bank.num_scalers()
    fitted = scalers + sum(params[n].numel() for n in extra)
    log(f'fitting {scalers} scalers + {fitted - scalers} other parameters '
        f'for {iters} iterations')
    was_training = model.training
    model.train()
    loss_sum = correct = seen = 0.0
    try:
        for it, data in zip(range(1, iters + 1), _cycle(loader)):
            data = model.data_preprocessor(data, True)
            inputs, samples = data['inputs'], data['data_samples']
            with optim_wrapper.optim_context(model):
                logits = target.view.run(model, target(), (inputs, ),
                                         dict(mode='tensor'), 'backbone.')
                loss = model.head._get_loss(logits, samples)['loss']
                if teacher is not None:
                    with torch.no_grad():
                        t_logits = teacher(inputs, mode='tensor')
                    loss = loss + alpha * soft_distill_loss(
                        logits, t_logits, tau)
            optim_wrapper.backward(loss)
            _average_grads(optim_wrapper.optimizer)
            optim_wrapper.step()
            optim_wrapper.zero_grad()
            labels = torch.cat([s.gt_label for s in samples])
            loss_sum += float(loss.detach())
            correct += float((logits.argmax(-1) == labels).sum())
            seen += len(labels)
            if it % log_interval == 0 or it == iters:
                log(f'iter {it}/{iters} loss {loss_sum / it:.4f} train acc '
                    f'{100 * correct / seen:.2f}')
    finally:
        for name, param in params.items():
            param.requires_grad_(flags[name])
        model.train(was_training)
    return dict(
        iters=iters,
        scalers=scalers,
        fitted_params=fitted,
        train_loss=round(loss_sum / max(iters, 1), 4),
        train_acc=round(100 * correct / max(seen, 1), 2))


def _average_grads(optimizer: torch.optim.Optimizer) -> None:
    if get_world_size() == 1:
        return
    for group in optimizer.param_groups:
        for param in group['params']:
            if param.grad is not None:
                all_reduce(param.grad, op='mean')
