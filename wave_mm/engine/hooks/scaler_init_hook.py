"""``ScalerInitHook``: fit a target's weight scalers before training (stage 2).

In ``before_train`` of a run whose stock ViT was initialised by ``WaveInit``,
the hook builds the target's Kronecker view (frozen templates, trainable
scalers), fits the scalers (and optionally small non-templated tensors such
as the new head) on the run's own train dataloader with the model's own loss,
writes the composed weights into the model, makes all ranks agree and saves
the scalers for ``WaveInit(scalers=...)``. A seeded slice of the train
dataset is held out of the fit: the fit keeps its best state on it, the
data-free start included, so it never ends worse there than it started.
The runner's optimizer, schedulers, AMP scaler and iteration counter are
not touched.
"""
import json
import os.path as osp
import time
from typing import Optional, Sequence, Tuple, Union

import torch
from mmengine.dist import broadcast, broadcast_object_list, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import AmpOptimWrapper
from mmpretrain.registry import HOOKS
from torch import nn
from torch.utils.data import DataLoader

from wave_mm.core import build_teacher, find_vit
from wave_mm.fileio import atomic_write
from wave_mm.models.initializers.scaler_fit import (build_optim_wrapper,
                                                    fit_scalers)
from wave_mm.models.initializers.scaler_holdout import (check_holdout,
                                                        check_schedule,
                                                        holdout_loaders)
from wave_mm.models.initializers.wave_init import WaveInit
from wave_mm.templates import save_scalers


@HOOKS.register_module()
class ScalerInitHook(Hook):
    """Fit the weight scalers of a ``WaveInit``-initialised ViT.

    Args:
        iters: Fitting iterations; 0 makes the hook a no-op.
        lr: AdamW learning rate of the scalers. 1e-2 suits an auxiliary
            distilled without nested widths; with them, whose data-free
            start is already good, 3e-3 (docs/defaults.md).
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
        holdout: Images of the train dataset held out of the fit: a
            fraction in [0, 1) (rounded, at least one image) or a count.
            The fit reads the others; the data-free start and the fit
            every ``eval_interval`` iterations are evaluated on these
            (accuracy and mean loss of the model's own loss, eval mode, the
            fit's autocast, summed over the ranks), and the best state is
            written into the model: higher held-out accuracy, at equal
            accuracy lower held-out loss, the start on a tie. 0 fits on the
            whole train dataloader without a check.
        holdout_seed: Seed of the split and of the fit's shuffling;
            ``None`` takes the runner's seed (rank 0's).
        eval_interval: Iterations between held-out evaluations; the last
            iteration is always evaluated, with ``None`` only it.
        patience: Held-out evaluations without improvement before the fit
            stops; ``None`` runs all ``iters``.

    Raises:
        ValueError: If an argument is out of range; in ``before_train``,
            before anything is changed, if ``holdout`` does not fit the
            train dataset.
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
                 scalers_file: str = 'scalers.safetensors',
                 holdout: Union[int, float] = 0.1,
                 holdout_seed: Optional[int] = None,
                 eval_interval: Optional[int] = 20,
                 patience: Optional[int] = 2) -> None:
        if iters < 0:
            raise ValueError(f'iters must be >= 0, got {iters}')
        check_holdout(holdout)
        check_schedule(eval_interval, patience)
        if holdout_seed is not None and (isinstance(holdout_seed, bool)
                                         or not isinstance(holdout_seed, int)):
            raise ValueError('holdout_seed must be an integer or None, got '
                             f'{holdout_seed!r}')
        self.holdout, self.holdout_seed = holdout, holdout_seed
        self.eval_interval, self.patience = eval_interval, patience
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
        WaveInit.of(self._model(runner))  # fail before training starts

    def before_train(self, runner) -> None:
        if self.iters == 0:
            return
        if runner.iter > 0 or getattr(runner, '_has_loaded', False):
            runner.logger.info('ScalerInitHook: weights were loaded or '
                               'resumed from a checkpoint, skipped')
            return
        loaders = self._loaders(runner)  # may refuse: nothing changed yet
        model = self._model(runner)
        init = WaveInit.of(model)
        target = init.target(model)
        device = next(model.parameters()).device
        target.to(device)
        start = time.time()
        record = self._fit(runner, model, target, device, *loaders)
        with torch.no_grad():
            target.write_into(find_vit(model))
            for value in model.state_dict().values():
                broadcast(value, src=0)
        record['seconds'] = round(time.time() - start, 2)
        if is_main_process():
            path = osp.join(runner.work_dir, self.scalers_file)
            save_scalers(path, target.scalers_data(),
                         [init.templates, init.scalers])
            record['scalers_file'] = path
        if self.evaluate and runner.val_loop is not None:
            metrics = runner.val_loop.run()
            record['val'] = {k: float(v) for k, v in metrics.items()}
        if is_main_process():
            atomic_write(
                osp.join(runner.work_dir, 'scaler_init.json'),
                json.dumps(record, indent=2).encode())
        runner.logger.info(f'ScalerInitHook: {json.dumps(record)}')

    def _dtype(self, runner) -> Optional[torch.dtype]:
        """The fit's autocast dtype: ``amp``, else the runner's."""
        dtype = self.amp
        if dtype is None and isinstance(runner.optim_wrapper, AmpOptimWrapper):
            dtype = runner.optim_wrapper.cast_dtype or torch.float16
        return getattr(torch, dtype) if isinstance(dtype, str) else dtype

    def _loaders(self, runner) -> Tuple[DataLoader, Optional[DataLoader]]:
        """The fit's loader and the held-out one (``None`` without)."""
        if not self.holdout:
            return runner.train_dataloader, None
        seed = self.holdout_seed
        if seed is None:
            seeds = [runner.seed]
            broadcast_object_list(seeds, src=0)  # ranks may differ
            seed = seeds[0]
        return holdout_loaders(runner.train_dataloader, self.holdout, seed)

    def _fit(self, runner, model: nn.Module, target, device: torch.device,
             loader, holdout_loader) -> dict:
        extra = [
            n for n, _ in model.named_parameters()
            if n.startswith(self.train_extra)
        ]
        params = dict(model.named_parameters())
        groups = [
            dict(
                params=list(target.bank.scalers.parameters()),
                lr=self.lr,
                weight_decay=0.0)
        ]
        if extra:
            groups.append(
                dict(params=[params[n] for n in extra], lr=self.extra_lr))
        wrapper = build_optim_wrapper(
            torch.optim.AdamW(groups), device, self._dtype(runner))
        teacher = (
            build_teacher(self.teacher_cfg).to(device)
            if self.teacher_cfg else None)
        return fit_scalers(
            model,
            target,
            loader,
            self.iters,
            wrapper,
            extra=extra,
            teacher=teacher,
            alpha=self.alpha,
            tau=self.tau,
            log=lambda line: runner.logger.info(f'ScalerInitHook: {line}'),
            log_interval=self.log_interval,
            holdout_loader=holdout_loader,
            eval_interval=self.eval_interval,
            patience=self.patience)
