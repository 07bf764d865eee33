"""What the init-quality benchmark runs: modes, sizes, methods and budgets.

Every run is one of the project's configs under ``configs/wave/quickstart``
plus ``--cfg-options``-style overrides; :mod:`jobs` executes them with
MMEngine's Runner. A *job* is a plain dict (picklable, JSON-able):
``name``, ``config``, ``options``, ``kind`` (``'train'`` or ``'init'``:
evaluate right after initialisation, no training) and ``after`` (names of the
jobs whose outputs it reads).
"""
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(ROOT, 'configs', 'wave', 'quickstart')

#: Method -> config. ``wave_df`` is WAVE's data-free init (no scaler fit).
METHODS: Dict[str, str] = {
    'scratch': 'scratch_vit-6x128-p7_1xb128-1e_fmnist.py',
    'kd': 'kd_vit-6x128-p7_1xb128-1e_fmnist.py',
    'ws': 'ws_vit-6x128-p7_1xb128-1e_fmnist.py',
    'tleg': 'tleg_vit-6x128-p7_1xb128-1e_fmnist.py',
    'mimetic': 'mimetic_vit-6x128-p7_1xb128-1e_fmnist.py',
    'wave': 'wave_vit-6x128-p7_1xb128-1e_fmnist.py',
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


@dataclass(frozen=True)
class Size:
    """A ViT size: ``layers x width`` with ``heads`` (FFN 4x width)."""
    layers: int
    width: int
    heads: int

    @property
    def name(self) -> str:
        return f'{self.layers}x{self.width}'


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
    ancestry: Size
    ancestry_epochs: int
    sizes: Tuple[Size, ...]
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
    transfer_sizes: Tuple[Size, ...] = ()
    transfer_epochs: int = 10
    ablations: bool = True
    ablation_sizes: Tuple[Size, ...] = field(default_factory=tuple)
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
        ancestry=Size(6, 128, 4),
        ancestry_epochs=10,
        ancestry_subset=30000,
        ancestry_loader_workers=2,
        sizes=(Size(4, 128, 4), Size(16, 128, 4), Size(6, 64, 2),
               Size(6, 192, 6), Size(4, 96, 3)),
        budgets=(1, 3, 10, 20),
        seeds=(0, 1, 2),
        train_subset=5000,
        test_subset=None,
        template_width=64,
        num_templates=16,  # the ablation's pick (docs/defaults.md)
        fit_iters=80,
        transfer_sizes=(Size(4, 128, 4), Size(6, 64, 2)),
        ablation_sizes=(Size(6, 64, 2), Size(4, 96, 3), Size(6, 192, 6))),
    # The grid cut to what 2 CPU cores do in about 40 minutes: one seed,
    # budgets 1 and 3, 5,000 training images, smaller deep and wide
    # targets (8x128, 6x160), no ablations.
    'cpu':
    Mode(
        ancestry=Size(6, 128, 4),
        ancestry_epochs=3,
        ancestry_subset=20000,
        sizes=(Size(4, 128, 4), Size(8, 128,
                                     4), Size(6, 64,
                                              2), Size(6, 160,
                                                       5), Size(4, 96, 3)),
        budgets=(1, 3),
        seeds=(0, ),
        train_subset=5000,
        test_subset=5000,
        template_width=64,
        num_templates=16,
        fit_iters=80,
        transfer_sizes=(Size(4, 128, 4), Size(6, 64, 2)),
        transfer_epochs=3,
        ablations=False),
    'quick':
    Mode(
        ancestry=Size(4, 64, 2),
        ancestry_epochs=1,
        ancestry_subset=4000,
        ancestry_loader_workers=1,
        sizes=(Size(2, 64, 2), Size(4, 32, 1)),
        budgets=(1, ),
        seeds=(0, ),
        train_subset=2000,
        test_subset=1000,
        template_width=32,
        num_templates=4,
        fit_iters=10,
        batch=64,
        transfer=('digits', ),
        transfer_sizes=(Size(2, 64, 2), ),
        transfer_epochs=1,
        ablations=False,
        nested_widths=(32, )),
}


def applicable(method: str, size: Size, ancestry: Size) -> bool:
    """Weight Selection needs a target no larger than the ancestry on any
    dimension; TLEG only changes depth."""
    if method == 'ws':
        return size.layers <= ancestry.layers and size.width <= ancestry.width
    if method == 'tleg':
        return size.width == ancestry.width and size.heads == ancestry.heads
    return True


def size_options(size: Size) -> Dict[str, object]:
    return {
        'model.backbone.arch.num_layers': size.layers,
        'model.backbone.arch.embed_dims': size.width,
        'model.backbone.arch.num_heads': size.heads,
        'model.backbone.arch.feedforward_channels': 4 * size.width,
        'model.head.in_channels': size.width,
    }


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


def job(name: str,
        method_or_config: str,
        options: Dict[str, object],
        kind: str = 'train',
        after: Sequence[str] = (),
        **meta) -> Dict[str, object]:
    config = METHODS.get(method_or_config, method_or_config)
    return dict(
        name=name,
        config=osp.join(CONFIGS, config),
        options=options,
        kind=kind,
        after=list(after),
        meta=meta)


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


def flatten(jobs: List[Dict[str, object]]) -> Dict[str, Dict[str, object]]:
    names = [j['name'] for j in jobs]
    if len(set(names)) != len(names):
        raise ValueError('duplicate job names in the plan')
    return {j['name']: j for j in jobs}
