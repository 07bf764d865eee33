"""``ScalerInitHook``: fit a target's weight scalers before training (stage 2).

In ``before_train`` of a run whose stock ViT was initialised by ``WaveInit``,
the hook builds the target's Kronecker view (frozen templates, trainable
scalers), fits the scalers (and optionally small non-templated tensors such
as the new head) on the run's own train dataloader with the model's own loss,
writes the composed weights into the model, makes all ranks agree and saves
the scalers for ``WaveInit(scalers=...)``. The runner's optimizer,
schedulers, AMP scaler and iteration counter are not touched.
"""
import json
import os.path as osp
import time
from contextlib import nullcontext
from typing import Dict, Iterator, Optional, Sequence

import torch
from mmengine.dist import (all_reduce, broadcast, get_world_size,
                           is_main_process)
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import AmpOptimWrapper
from mmpretrain.registry import HOOKS
from torch import nn
from torch.func import functional_call

from wave_mm.fileio import atomic_write
from wave_mm.models.classifiers import build_teacher
from wave_mm.models.heads import soft_distill_loss
from wave_mm.models.initializers import build_target, find_vit
from wave_mm.templates import save_scalers


def find_wave_init(model: nn.Module) -> dict:
    """The ``WaveInit`` config on ``model`` or its backbone."""
    for module in (model, getattr(model, 'backbone', None)):
        cfgs = getattr(module, 'init_cfg', None) or []
        for cfg in cfgs if isinstance(cfgs, list) else [cfgs]:
            if isinstance(cfg, dict) and cfg.get('type') == 'WaveInit':
                return cfg
    raise ValueError(
        'ScalerInitHook needs a model initialised by WaveInit: add '
        "init_cfg=dict(type='WaveInit', templates=...) to the model or its "
        'backbone')


def _cycle(loader) -> Iterator:
    while True:
        yield from loader


@HOOKS.register_module()
class ScalerInitHook(Hook):
    """Fit the weight scalers of a ``WaveInit``-initialised ViT.

    Args:
        iters: Fitting iterations; 0 makes the hook a no-op.
        lr: AdamW learning rate of the scalers. 1e-2 suits an auxiliary
            distilled without nested widths; with them, whose data-free
            start is already good, 3e-3 (docs/benchmarks.md).
        extra_lr: Learning rate of ``train_extra`` parameters.
        train_extra: Prefixes of model parameter names fitted along with
            the scalers (non-templated tensors, e.g. a new ``'head'``).
        teacher: Optional teacher (see ``build_teacher``) for an extra
            ``alpha * tau^2 * KL`` term.
        alpha: Weight of the teacher term.
        tau: Temperature of the teacher term.
        amp: Autocast dtype name (``'bfloat16'``/``'float16'``); ``None``
            follows the runner (autocast iff it uses ``AmpOptimWrapper``).
        evaluate: Run the validation loop after fitting and record it.
        log_interval: Iterations between log lines.
        scalers_file: File name of the fitted scalers in the work dir.
    """
    priority = 'VERY_HIGH'

    def __init__(self,
                 iters: int = 300,
                 lr: float = 1e-2,
                 extra_lr: float = 1e-3,
                 train_extra: Sequence[str] = ('head', ),
                 teacher: Optional[dict] = None,
                 alpha: float = 1.0,
                 tau: float = 1.0,
                 amp: Optional[str] = None,
                 evaluate: bool = False,
                 log_interval: int = 50,
                 scalers_file: str = 'scalers.safetensors') -> None:
        if iters < 0:
            raise ValueError(f'iters must be >= 0, got {iters}')
        self.iters, self.lr, self.extra_lr = iters, lr, extra_lr
        self.train_extra = tuple(train_extra)
        self.teacher_cfg, self.alpha, self.tau = teacher, alpha, tau
        self.amp, self.evaluate = amp, evaluate
        self.log_interval = log_interval
        self.scalers_file = scalers_file

    @staticmethod
    def _model(runner) -> nn.Module:
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def before_run(self, runner) -> None:
        find_wave_init(self._model(runner))  # fail before training starts

    def before_train(self, runner) -> None:
        if self.iters == 0:
            return
        if runner.iter > 0 or getattr(runner, '_has_loaded', False):
            runner.logger.info('ScalerInitHook: weights were loaded or '
                               'resumed from a checkpoint, skipped')
            return
        model = self._model(runner)
        init = find_wave_init(model)
        target = build_target(model, init['templates'], init.get('scalers'),
                              init.get('width_rule', 'scaled'),
                              init.get('depth_rule', 'first'))
        device = next(model.parameters()).device
        target.to(device)
        start = time.time()
        record = self._fit(runner, model, target)
        with torch.no_grad():
            target.write_into(find_vit(model))
            for value in model.state_dict().values():
                broadcast(value, src=0)
        record['seconds'] = round(time.time() - start, 2)
        if is_main_process():
            path = osp.join(runner.work_dir, self.scalers_file)
            save_scalers(path, target.scalers_data())
            record['scalers_file'] = path
        if self.evaluate and runner.val_loop is not None:
            metrics = runner.val_loop.run()
            record['val'] = {k: float(v) for k, v in metrics.items()}
        if is_main_process():
            atomic_write(
                osp.join(runner.work_dir, 'scaler_init.json'),
                json.dumps(record, indent=2).encode())
        runner.logger.info(f'ScalerInitHook: {json.dumps(record)}')

    def _autocast(self, runner, device: torch.device):
        dtype = self.amp
        if dtype is None and isinstance(runner.optim_wrapper, AmpOptimWrapper):
            dtype = runner.optim_wrapper.cast_dtype or torch.float16
        if dtype is None:
            return nullcontext(), None
        dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
        scaler = (
            torch.amp.GradScaler(device.type)
            if dtype == torch.float16 else None)
        return torch.autocast(device.type, dtype=dtype), scaler

    def _fit(self, runner, model: nn.Module, target) -> Dict[str, object]:
        extra = {
            n: p
            for n, p in model.named_parameters()
            if n.startswith(self.train_extra)
        }
        scalers = list(target.bank.scalers.parameters())
        groups = [dict(params=scalers, lr=self.lr, weight_decay=0.0)]
        if extra:
            groups.append(dict(params=list(extra.values()), lr=self.extra_lr))
        optimizer = torch.optim.AdamW(groups)
        device = scalers[0].device
        teacher = (
            build_teacher(self.teacher_cfg).to(device)
            if self.teacher_cfg else None)
        autocast, scaler = self._autocast(runner, device)
        flags = {n: p.requires_grad for n, p in model.named_parameters()}
        for name, param in model.named_parameters():
            param.requires_grad_(name in extra)
        was_training = model.training
        model.train()
        num_fitted = sum(p.numel()
                         for p in scalers) + sum(p.numel()
                                                 for p in extra.values())
        runner.logger.info(
            f'ScalerInitHook: fitting {sum(p.numel() for p in scalers)} '
            f'scalers + {num_fitted - sum(p.numel() for p in scalers)} other '
            f'parameters for {self.iters} iterations')
        loss_sum = correct = seen = 0.0
        try:
            for it, data in zip(
                    range(1, self.iters + 1), _cycle(runner.train_dataloader)):
                data = model.data_preprocessor(data, True)
                inputs, samples = data['inputs'], data['data_samples']
                with autocast:
                    params = {f'backbone.{k}': v for k, v in target().items()}
                    logits = functional_call(model, params, (inputs, ),
                                             dict(mode='tensor'))
                    loss = model.head._get_loss(logits, samples)['loss']
                    if teacher is not None:
                        with torch.no_grad():
                            t_logits = teacher(inputs, mode='tensor')
                        loss = loss + self.alpha * soft_distill_loss(
                            logits, t_logits, self.tau)
                optimizer.zero_grad(set_to_none=True)
                (scaler.scale(loss) if scaler else loss).backward()
                self._average_grads(optimizer)
                if scaler:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                labels = torch.cat([s.gt_label for s in samples])
                loss_sum += float(loss.detach())
                correct += float((logits.argmax(-1) == labels).sum())
                seen += len(labels)
                if it % self.log_interval == 0 or it == self.iters:
                    runner.logger.info(
                        f'ScalerInitHook: iter {it}/{self.iters} loss '
                        f'{loss_sum / it:.4f} train acc '
                        f'{100 * correct / seen:.2f}')
        finally:
            for name, param in model.named_parameters():
                param.requires_grad_(flags[name])
            model.train(was_training)
        return dict(
            iters=self.iters,
            scalers=sum(p.numel() for p in scalers),
            fitted_params=num_fitted,
            train_loss=round(loss_sum / self.iters, 4),
            train_acc=round(100 * correct / max(seen, 1), 2))

    @staticmethod
    def _average_grads(optimizer: torch.optim.Optimizer) -> None:
        if get_world_size() == 1:
            return
        for group in optimizer.param_groups:
            for param in group['params']:
                if param.grad is not None:
                    all_reduce(param.grad, op='mean')
