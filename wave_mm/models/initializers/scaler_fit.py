"""Fitting a target's scalers on data: the loop of the ``ScalerInitHook``,
usable without a Runner.

Only the scalers (and, optionally, a few named non-templated parameters such
as a new head) train, with the model's own loss; the templates stay frozen.
Mixed precision and gradient scaling are the optim wrapper's (MMEngine's
``AmpOptimWrapper`` on accelerators). With held-out images the fit keeps
its best state, the data-free start included (:mod:`.scaler_holdout`).
"""
from contextlib import contextmanager
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from torch import nn

from wave_mm.core import soft_distill_loss
from .scaler_holdout import BestState, check_schedule, evaluate_holdout
from .wave_target import WaveTarget

Log = Callable[[str], None]


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
                log: Log = print,
                log_interval: int = 50,
                holdout_loader: Optional[Iterable] = None,
                eval_interval: Optional[int] = None,
                patience: Optional[int] = None) -> Dict[str, object]:
    """Fit ``target``'s scalers for ``iters`` iterations of ``loader``.

    The model runs through ``target``'s Kronecker view (its ViT is the
    backbone), so gradients reach the scalers; ``model`` itself is only
    read, but for the ``extra`` parameters, which train too.

    With ``holdout_loader``, the data-free start and the fit every
    ``eval_interval`` iterations are evaluated on its images
    (:func:`~.scaler_holdout.evaluate_holdout`); the fit stops after
    ``patience`` evaluations without improvement and ends in the best
    state (scalers and ``extra``): higher held-out accuracy, at equal
    accuracy lower held-out loss, the earlier state on a tie. It thus never
    ends worse on the held-out images than it started.

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
        holdout_loader: Held-out batches (this rank's share), or ``None``
            to fit without a held-out check.
        eval_interval: Iterations between held-out evaluations; ``None``
            evaluates after the last iteration only. The last iteration is
            always evaluated.
        patience: Evaluations without improvement before the fit stops;
            ``None`` never stops early.

    Returns:
        The fit's record: iterations run, scaler count, fitted parameters,
        mean train loss and accuracy; with ``holdout_loader`` also
        ``holdout``: ``images``, ``start`` and ``best`` (``accuracy`` %,
        ``loss``; ``best`` with its ``iter``, 0 for the start), ``kept``
        (``'start'`` or ``'fit'``), ``stopped_at`` (the iteration that
        stopped early, ``None`` if all ran) and ``evaluations`` (``[iter,
        accuracy, loss]`` each).

    Raises:
        ValueError: If ``eval_interval`` or ``patience`` is not ``None`` or
            an integer >= 1.
    """
    check_schedule(eval_interval, patience)
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
    check = None if holdout_loader is None else _HoldoutCheck(
        model, target, extra, holdout_loader, optim_wrapper, log,
        eval_interval, patience)
    loss_sum = correct = seen = 0.0
    it, stopped_at = 0, None
    try:
        if check is not None:
            check.evaluate(0)
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
            if check is not None and check.after(it, iters):
                stopped_at = it
                break
        if check is not None:
            check.finish()
    finally:
        for name, param in params.items():
            param.requires_grad_(flags[name])
        model.train(was_training)
    record = dict(
        iters=it,
        scalers=scalers,
        fitted_params=fitted,
        train_loss=round(loss_sum / max(it, 1), 4),
        train_acc=round(100 * correct / max(seen, 1), 2))
    if check is not None:
        record['holdout'] = check.record(stopped_at)
    return record


class _HoldoutCheck:
    """The held-out evaluations of one fit and its best state."""

    def __init__(self, model: nn.Module, target: WaveTarget,
                 extra: Sequence[str], loader: Iterable,
                 optim_wrapper: OptimWrapper, log: Log,
                 eval_interval: Optional[int],
                 patience: Optional[int]) -> None:
        self.model, self.target, self.loader = model, target, loader
        self.eval_interval, self.patience = eval_interval, patience
        self.context, self.log = optim_wrapper.optim_context, log
        params = dict(model.named_parameters())
        tensors = {
            f'scalers.{k}': v
            for k, v in target.bank.scalers.named_parameters()
        }
        tensors.update({n: params[n] for n in extra})
        self.best = BestState(tensors)
        self.start: Dict[str, float] = {}
        self.evaluations: List[List[float]] = []
        self.stale = 0  # evaluations since the best

    def evaluate(self, it: int) -> None:
        score = evaluate_holdout(self.model, self.target, self.loader,
                                 self.context)
        if not self.start:
            self.start = score
        improved = self.best.offer(it, score)
        self.stale = 0 if improved else self.stale + 1
        accuracy, loss = round(score['accuracy'], 2), round(score['loss'], 4)
        self.evaluations.append([it, accuracy, loss])
        what = 'start' if it == 0 else f'iter {it}'
        self.log(f'held-out {what}: acc {score["accuracy"]:.2f} loss '
                 f'{score["loss"]:.4f} on {score["images"]} images'
                 f'{" (best)" if improved else ""}')

    def after(self, it: int, iters: int) -> bool:
        """Evaluate after iteration ``it`` of ``iters`` when due; returns
        whether the fit stops early."""
        interval = self.eval_interval
        if it < iters and not (interval and it % interval == 0):
            return False
        self.evaluate(it)
        if self.patience is None or self.stale < self.patience \
                or it == iters:
            return False
        self.log(f'iter {it}: no held-out improvement in {self.patience} '
                 'evaluations, stopped')
        return True

    def finish(self) -> None:
        """Write the best state back."""
        self.best.restore()
        it = self.best.iter
        self.log(f'kept the fit of iter {it}' if it else 'kept the data-free '
                 'start')

    def record(self, stopped_at: Optional[int]) -> Dict[str, object]:
        best, start = self.best.score, self.start
        return dict(
            images=start['images'],
            start=dict(
                accuracy=round(start['accuracy'], 2),
                loss=round(start['loss'], 4)),
            best=dict(
                accuracy=round(best['accuracy'], 2),
                loss=round(best['loss'], 4),
                iter=self.best.iter),
            kept='start' if self.best.iter == 0 else 'fit',
            stopped_at=stopped_at,
            evaluations=self.evaluations)


def _average_grads(optimizer: torch.optim.Optimizer) -> None:
    if get_world_size() == 1:
        return
    for group in optimizer.param_groups:
        for param in group['params']:
            if param.grad is not None:
                all_reduce(param.grad, op='mean')
