"""What the init-quality benchmark runs: modes, sizes, methods and budgets.

Every run is one of the project's configs under ``configs/wave/quickstart``
plus ``--cfg-options``-style overrides, described by a :class:`Job`;
:mod:`jobs` executes them with MMEngine's Runner.
"""
import json
import os.path as osp
import sys
from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Sequence, Tuple

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(ROOT, 'configs', 'wave', 'quickstart')
# tools/: the sizes and the data preparation the quickstart uses too.
sys.path.append(osp.join(ROOT, 'tools'))
from vit_size import ViTSize  # noqa: E402

#: Method or step -> config. ``wave_df`` (WAVE's data-free init, no scaler
#: fit) runs the WAVE config.
CONFIG_FILES: Dict[str, str] = {
    'ancestry': 'ancestry_vit-6x128-p7_1xb128-3e_fmnist.py',
    'distill': 'distill_vit-6x128-p7_1xb128-3e_fmnist.py',
    'tleg_distill': 'tleg-distill_vit-6x128-p7_1xb128-3e_fmnist.py',
    'scratch': 'scratch_vit-6x128-p7_1xb128-1e_fmnist.py',
    'kd': 'kd_vit-6x128-p7_1xb128-1e_fmnist.py',
    'ws': 'ws_vit-6x128-p7_1xb128-1e_fmnist.py',
    'tleg': 'tleg_vit-6x128-p7_1xb128-1e_fmnist.py',
    'mimetic': 'mimetic_vit-6x128-p7_1xb128-1e_fmnist.py',
    'wave': 'wave_vit-6x128-p7_1xb128-1e_fmnist.py',
    'wave_df': 'wave_vit-6x128-p7_1xb128-1e_fmnist.py',
}
LABELS = {
    'scratch': 'scratch',
    'kd': 'KD control',
    'ws': 'Weight Selection',
    'tleg': 'TLEG',
    'mimetic': 'Mimetic',
    'wave': 'WAVE',
    'wave_df': 'WAVE data-free',
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
            later jobs read.
        after: Names of the jobs whose outputs it reads.
        method: The method (:data:`LABELS`) of a grid or transfer job.
        size: :attr:`ViTSize.name` of its target.
        budget: Training epochs (0: evaluated untrained).
        seed: Seed of the run.
        dataset: Transfer dataset.
        variant: Ablation variant.
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
    cost: Optional[float] = None

    def labels(self) -> Dict[str, object]:
        """What its result records besides the measurements: the fields
        from :attr:`method` on that are set."""
        keys = ('method', 'size', 'budget', 'seed', 'dataset', 'variant',
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


@dataclass
class Mode:
    """One benchmark setting (``gpu`` grid or the CPU ``quick`` smoke run).

    Args:
        ancestry: Size of the ancestry and of both auxiliaries.
        ancestry_epochs: Epochs of the ancestry and of each distillation,
            on ``ancestry_subset`` training images (``None``: all 60,000).
        sizes: Target sizes.
        budgets: Target training epochs.
        seeds: Seeds per cell.
        train_subset: Training images of the targets.
        test_subset: Test images used for every evaluation (``None``: all).
        template_width: Template block width of the WAVE auxiliary.
        num_templates: Templates per weight type.
        fit_iters: ScalerInitHook iterations.
        fit_lr: ScalerInitHook learning rate (3e-3: the ablation's pick for
            nested auxiliaries; the hook's default 1e-2 suits plain ones).
        batch: Batch size of every run.
        transfer: Transfer datasets (``'mnist'``, ``'digits'``).
        transfer_sizes: Target sizes of the transfer runs.
        transfer_epochs: Epochs of the transfer runs.
        ablations: Run the ablations.
        ablation_sizes: Target sizes of the ablations.
        ancestry_loader_workers: Dataloader workers of the ancestry and
            distillation runs, which run before the grid with CPU to spare.
        nested_widths: ``DistillImageClassifier(nested_widths)`` of the
            WAVE auxiliary (the narrow target widths that keep the
            ancestry's head width).
        nested_min_layers: ``DistillImageClassifier(nested_min_layers)``.
    """
    ancestry: ViTSize
    ancestry_epochs: int
    sizes: Tuple[ViTSize, ...]
    budgets: Tuple[int, ...]
    seeds: Tuple[int, ...]
    train_subset: Optional[int]
    test_subset: Optional[int]
    template_width: int
    num_templates: int
    fit_iters: int
    batch: int = 128
    ancestry_subset: Optional[int] = None
    transfer: Tuple[str, ...] = ('mnist', 'digits')
    transfer_sizes: Tuple[ViTSize, ...] = ()
    transfer_epochs: int = 10
    ablations: bool = True
    ablation_sizes: Tuple[ViTSize, ...] = field(default_factory=tuple)
    ancestry_loader_workers: int = 0
    nested_widths: Tuple[int, ...] = (64, 96)
    nested_min_layers: int = 1
    fit_lr: float = 3e-3


MODES: Dict[str, Mode] = {
    # Sizes: depths 4-16, widths below and above the ancestry's 128, and
    # 96 = 1.5 blocks of 64 (not a multiple of the template block). The
    # full budget is 20 epochs of 5,000 images; the ancestry and the
    # auxiliaries (the critical path) get 10 epochs of 30,000.
    'gpu':
    Mode(
        ancestry=ViTSize(6, 128, 4),
        ancestry_epochs=10,
        ancestry_subset=30000,
        ancestry_loader_workers=2,
        sizes=(ViTSize(4, 128, 4), ViTSize(16, 128, 4), ViTSize(6, 64, 2),
               ViTSize(6, 192, 6), ViTSize(4, 96, 3)),
        budgets=(1, 3, 10, 20),
        seeds=(0, 1, 2),
        train_subset=5000,
        test_subset=None,
        template_width=64,
        num_templates=16,  # the ablation's pick (docs/defaults.md)
        fit_iters=80,
        transfer_sizes=(ViTSize(4, 128, 4), ViTSize(6, 64, 2)),
        ablation_sizes=(
            ViTSize(6, 64, 2),
            ViTSize(4, 96, 3),
            ViTSize(6, 192, 6),
        )),
    # The grid cut to what 2 CPU cores do in about 40 minutes: one seed,
    # budgets 1 and 3, 5,000 training images, smaller deep and wide
    # targets (8x128, 6x160), no ablations.
    'cpu':
    Mode(
        ancestry=ViTSize(6, 128, 4),
        ancestry_epochs=3,
        ancestry_subset=20000,
        sizes=(ViTSize(4, 128, 4), ViTSize(8, 128, 4), ViTSize(6, 64, 2),
               ViTSize(6, 160, 5), ViTSize(4, 96, 3)),
        budgets=(1, 3),
        seeds=(0, ),
        train_subset=5000,
        test_subset=5000,
        template_width=64,
        num_templates=16,
        fit_iters=80,
        transfer_sizes=(ViTSize(4, 128, 4), ViTSize(6, 64, 2)),
        transfer_epochs=3,
        ablations=False),
    'quick':
    Mode(
        ancestry=ViTSize(4, 64, 2),
        ancestry_epochs=1,
        ancestry_subset=4000,
        ancestry_loader_workers=1,
        sizes=(ViTSize(2, 64, 2), ViTSize(4, 32, 1)),
        budgets=(1, ),
        seeds=(0, ),
        train_subset=2000,
        test_subset=1000,
        template_width=32,
        num_templates=4,
        fit_iters=10,
        batch=64,
        transfer=('digits', ),
        transfer_sizes=(ViTSize(2, 64, 2), ),
        transfer_epochs=1,
        ablations=False,
        nested_widths=(32, )),
}


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
                 dataset: Optional[str] = None) -> Dict[str, object]:
    """Epochs, data subsets, batch, seed; no checkpoints, no workers."""
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
    return opts


def wave_init_options(templates: str,
                      fit_iters: int,
                      width_rule: str = 'scaled',
                      depth_rule: str = 'first',
                      head: bool = True,
                      *,
                      fit_lr: float) -> Dict[str, object]:
    """WaveInit on the whole classifier (head from the templates file) and
    the ScalerInitHook's iterations (0: the data-free init alone) and
    learning rate."""
    opts: Dict[str, object] = {
        'model.init_cfg':
        dict(
            type='WaveInit',
            templates=templates,
            width_rule=width_rule,
            depth_rule=depth_rule,
            head=head),
        'custom_hooks': [] if fit_iters == 0 else [
            dict(
                type='ScalerInitHook',
                iters=fit_iters,
                lr=fit_lr,
                evaluate=True,
                log_interval=max(fit_iters, 1))
        ],
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
