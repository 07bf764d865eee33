"""What one run of the init-quality benchmark is: a :class:`Job`, its config
and the overrides that set its data, learning rate and initialisation.

Every run is one of the project's configs under ``configs/wave/quickstart``
plus ``--cfg-options``-style overrides; :mod:`jobs` executes them with
MMEngine's Runner, :mod:`plan` lists them for a mode (:mod:`modes`).
"""
import json
import os.path as osp
from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Sequence, Tuple

from modes import ROOT, Mode, ViTSize

CONFIGS = osp.join(ROOT, 'configs', 'wave', 'quickstart')

#: Method or step -> config. ``wave_df`` (WAVE's data-free init, no scaler
#: fit) runs the WAVE config; ``wave_proj`` is WAVE from the templates of
#: the closed-form Kronecker projection of the ancestry (no distillation).
CONFIG_FILES: Dict[str, str] = {
    'ancestry': 'ancestry_vit-6x128-p7_1xb128-3e_fmnist.py',
    'distill': 'distill_vit-6x128-p7_1xb128-3e_fmnist.py',
    'tleg_distill': 'tleg-distill_vit-6x128-p7_1xb128-3e_fmnist.py',
    'scratch': 'scratch_vit-6x128-p7_1xb128-1e_fmnist.py',
    'kd': 'kd_vit-6x128-p7_1xb128-1e_fmnist.py',
    'ws': 'ws_vit-6x128-p7_1xb128-1e_fmnist.py',
    'tleg': 'tleg_vit-6x128-p7_1xb128-1e_fmnist.py',
    'mimetic': 'mimetic_vit-6x128-p7_1xb128-1e_fmnist.py',
    'front': 'front_vit-6x128-p7_1xb128-1e_fmnist.py',
    'wave': 'wave_vit-6x128-p7_1xb128-1e_fmnist.py',
    'wave_df': 'wave_vit-6x128-p7_1xb128-1e_fmnist.py',
    'wave_proj': 'wave_vit-6x128-p7_1xb128-1e_fmnist.py',
    'wave_proj_df': 'wave_vit-6x128-p7_1xb128-1e_fmnist.py',
}
LABELS = {
    'scratch': 'scratch',
    'kd': 'KD control',
    'ws': 'Weight Selection',
    'tleg': 'TLEG',
    'mimetic': 'Mimetic',
    'front': 'FRONT',
    'wave': 'WAVE',
    'wave_df': 'WAVE data-free',
    'wave_proj': 'WAVE, projection only',
    'wave_proj_df': 'WAVE projection only, data-free',
}


def config_path(method: str) -> str:
    """The config file of a method or step of :data:`CONFIG_FILES`."""
    return osp.join(CONFIGS, CONFIG_FILES[method])


@dataclass(frozen=True)
class Job:
    """One run of the benchmark: a config, its overrides, what it waits for.

    Args:
        name: Unique; also its folder in the work dir.
        config: Path of the config file.
        options: ``--cfg-options``-style overrides. A list on a key's way is
            entered by the ``type`` of one of its elements, never by its
            position: ``model.init_cfg.WeightSelectionInit.checkpoint``.
        kind: ``'train'``; ``'init'``: evaluate right after initialisation,
            no training; ``'distill'``: train and keep the checkpoint, which
            later jobs read; ``'export'``: a distillation of 0 epochs (its
            hooks export the initialised templates), then evaluated.
        after: Names of the jobs whose outputs it reads.
        method: The method (:data:`LABELS`) of a grid or transfer job.
        size: :attr:`ViTSize.name` of its target.
        budget: Training epochs (0: evaluated untrained).
        seed: Seed of the run.
        dataset: Transfer dataset.
        variant: Ablation variant (``'select'``: an lr-selection run).
        lr: Learning rate of a target's training.
        cost: Rough relative cost, to start the longest jobs first.
    """
    name: str
    config: str
    options: Mapping[str, object]
    kind: str = 'train'
    after: Tuple[str, ...] = ()
    method: Optional[str] = None
    size: Optional[str] = None
    budget: Optional[int] = None
    seed: Optional[int] = None
    dataset: Optional[str] = None
    variant: Optional[str] = None
    lr: Optional[float] = None
    cost: Optional[float] = None

    def labels(self) -> Dict[str, object]:
        """What its result records besides the measurements: the fields
        from :attr:`method` on that are set."""
        keys = ('method', 'size', 'budget', 'seed', 'dataset', 'variant', 'lr',
                'cost')
        return {
            k: getattr(self, k)
            for k in keys if getattr(self, k) is not None
        }

    def signature_text(self, deps: Tuple[str, ...]) -> str:
        """What its signature digests: config, options, kind and ``deps``
        (the signatures of the jobs it waits for)."""
        return json.dumps(
            [self.config,
             dict(self.options), self.kind,
             list(deps)],
            sort_keys=True,
            default=str)


def applicable(method: str, size: ViTSize, ancestry: ViTSize) -> bool:
    """Weight Selection needs a target no larger than the ancestry on any
    dimension; TLEG only changes depth."""
    if method == 'ws':
        return size.layers <= ancestry.layers and size.width <= ancestry.width
    if method == 'tleg':
        return size.width == ancestry.width and size.heads == ancestry.heads
    return True


def data_options(mode: Mode,
                 epochs: int,
                 subset: Optional[int],
                 seed: int,
                 data_root: Optional[str] = None,
                 dataset: Optional[str] = None,
                 lr: Optional[float] = None) -> Dict[str, object]:
    """Epochs, data subsets, batch, seed and (unless ``None``) the target's
    learning rate; no checkpoints, no workers."""
    opts: Dict[str, object] = {
        'train_cfg.max_epochs': epochs,
        'train_cfg.val_interval': epochs,
        'train_dataloader.batch_size': mode.batch,
        'train_dataloader.num_workers': 0,
        'val_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'val_dataloader.persistent_workers': False,
        'train_dataloader.dataset.indices': subset,
        'val_dataloader.dataset.indices': mode.test_subset,
        'randomness.seed': seed,
        'default_hooks.checkpoint': None,
        'default_hooks.logger.interval': 50,
        'log_level': 'WARNING',
    }
    for split in ('train', 'val'):
        if data_root:
            opts[f'{split}_dataloader.dataset.data_root'] = data_root
        if dataset:
            opts[f'{split}_dataloader.dataset.type'] = dataset
    if lr is not None:
        opts['optim_wrapper.optimizer.lr'] = lr
    return opts


def validation_options(mode: Mode) -> Dict[str, object]:
    """Train on the first ``train_subset - val_images`` training images
    and validate on the ``val_images`` after them (never the test set)."""
    first = mode.train_subset - mode.val_images
    return {
        'train_dataloader.dataset.indices': list(range(first)),
        'val_dataloader.dataset.split': 'train',
        'val_dataloader.dataset.indices':
        list(range(first, mode.train_subset)),
    }


def wave_init_options(templates: str,
                      fit_iters: int,
                      width_rule: str = 'scaled',
                      depth_rule: str = 'first',
                      head: bool = True,
                      *,
                      fit_lr: float,
                      holdout: Optional[float] = None) -> Dict[str, object]:
    """WaveInit on the whole classifier (head from the templates file) and
    the ScalerInitHook's iterations (0: the data-free init alone),
    learning rate and held-out share (``None``: the hook's own)."""
    hook = dict(
        type='ScalerInitHook',
        iters=fit_iters,
        lr=fit_lr,
        evaluate=True,
        log_interval=max(fit_iters, 1))
    if holdout is not None:
        hook['holdout'] = holdout
    opts: Dict[str, object] = {
        'model.init_cfg':
        dict(
            type='WaveInit',
            templates=templates,
            width_rule=width_rule,
            depth_rule=depth_rule,
            head=head),
        'custom_hooks': [] if fit_iters == 0 else [hook],
    }
    return opts


def by_name(jobs: Sequence[Job]) -> Dict[str, Job]:
    """The jobs by name.

    Raises:
        ValueError: if two jobs share a name.
    """
    names = [j.name for j in jobs]
    if len(set(names)) != len(names):
        raise ValueError('duplicate job names in the plan')
    return {j.name: j for j in jobs}
