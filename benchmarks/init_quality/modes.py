"""The settings of the init benchmark: the GPU grid, its compressed regime,
the reduced CPU grid and the CPU smoke run."""
import os.path as osp
import sys
from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Tuple

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# tools/: the sizes and the data preparation the quickstart uses too.
sys.path.append(osp.join(ROOT, 'tools'))
from vit_size import ViTSize  # noqa: E402

#: Every method of the grid tables, in column order.
GRID_METHODS: Tuple[str, ...] = ('scratch', 'kd', 'ws', 'tleg', 'mimetic',
                                 'front', 'wave', 'wave_proj')


@dataclass
class Mode:
    """One benchmark setting.

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
        lrs: Target learning rates each method's is chosen from; the first
            is the configs' own recipe (``quickstart_fmnist.py``), the lr
            of the shared-recipe view.
        val_images: The last ``val_images`` of the ``train_subset``
            training images: the validation split the lr is chosen on
            (training then reads the others).
        select_budget: Epochs of the lr-selection runs.
        fit_lr: ScalerInitHook learning rate.
        batch: Batch size of every target run.
        recipe: Overrides of the ancestry's and the distillations' runs
            (their learning rate, batch), on top of the configs'.
        methods: The grid's methods (of :data:`GRID_METHODS`).
        projection_epochs: Epochs of the distillations started at the
            Kronecker projection of the ancestry (0: the projection alone).
        random_epochs: Epochs of shorter distillations from a random
            start, besides ``ancestry_epochs``.
        transfer: Transfer datasets (``'mnist'``, ``'digits'``).
        transfer_sizes: Target sizes of the transfer runs.
        transfer_epochs: Epochs of the transfer runs.
        variants: Ablation variants run by default (of
            ``ablations.VARIANTS``; empty: none).
        ablation_sizes: Target sizes of the ablations.
        ablation_seeds: Their seeds (``None``: ``seeds``).
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
    train_subset: int
    test_subset: Optional[int]
    template_width: int
    num_templates: int
    fit_iters: int
    lrs: Tuple[float, ...] = (2e-3, 5e-4, 1e-4)
    val_images: int = 1000
    select_budget: int = 10
    fit_lr: float = 3e-3
    batch: int = 128
    recipe: Mapping[str, object] = field(default_factory=dict)
    ancestry_subset: Optional[int] = None
    methods: Tuple[str, ...] = GRID_METHODS
    projection_epochs: Tuple[int, ...] = (0, )
    random_epochs: Tuple[int, ...] = ()
    transfer: Tuple[str, ...] = ('mnist', 'digits')
    transfer_sizes: Tuple[ViTSize, ...] = ()
    transfer_epochs: int = 10
    variants: Tuple[str, ...] = ()
    ablation_sizes: Tuple[ViTSize, ...] = ()
    ablation_seeds: Optional[Tuple[int, ...]] = None
    nested_widths: Tuple[int, ...] = (64, 96)
    nested_min_layers: int = 1

    @property
    def shared_lr(self) -> float:
        """The lr of the shared-recipe view: the configs' own."""
        return self.lrs[0]


#: The open choices of the reconstruction and the fit, ablated in the GPU
#: modes (``matrices_only`` and its reference ``no_nesting``: nested
#: widths need every tensor templated).
CHOICES = ('default', 'kron_st', 'split_qkv', 'matrices_only', 'no_nesting')
FIT_CHOICES = ('no_holdout', 'fit20', 'fit200', 'fit_lr1e-2', 'fit_lr1e-3')

MODES: Dict[str, Mode] = {
    # Sizes: depths 4-16, widths below and above the ancestry's 128, and
    # 96 = 1.5 blocks of 64 (not a multiple of the template block). The
    # ancestry and the auxiliaries (the critical path) get 10 epochs of
    # 30,000 images; the targets train on 5,000.
    'gpu':
    Mode(
        ancestry=ViTSize(6, 128, 4),
        ancestry_epochs=10,
        ancestry_subset=30000,
        sizes=(ViTSize(4, 128, 4), ViTSize(16, 128, 4), ViTSize(6, 64, 2),
               ViTSize(6, 192, 6), ViTSize(4, 96, 3)),
        budgets=(1, 10),
        seeds=(0, 1, 2),
        train_subset=5000,
        test_subset=None,
        template_width=64,
        num_templates=16,  # the ablation's pick (docs/defaults.md)
        fit_iters=80,
        projection_epochs=(0, 1, 3),
        random_epochs=(3, ),
        transfer=(),
        variants=CHOICES + FIT_CHOICES + ('proj3', 'rand3'),
        ablation_seeds=(0, 1),
        ablation_sizes=(ViTSize(6, 64, 2), ViTSize(4, 96, 3))),
    # The regime WAVE is for: a DeiT-S-shaped ancestry (12x384, 6 heads of
    # 64) trained on all 60,000 images, 12 templates of 96-wide blocks per
    # type (every matrix type holds 16x the values of its templates, as
    # DeiT-B's with 12 templates of 192), nested widths 192 and 256;
    # targets at a width outside them (320, cropped from 4 blocks) and
    # with 48-dim heads (12x240).
    'compressed':
    Mode(
        ancestry=ViTSize(12, 384, 6),
        ancestry_epochs=8,
        ancestry_subset=None,
        recipe={
            'optim_wrapper.optimizer.lr': 1e-3,
            'train_dataloader.batch_size': 256
        },
        sizes=(ViTSize(6, 192, 3), ViTSize(12, 240, 5), ViTSize(8, 320, 5)),
        budgets=(1, 10),
        seeds=(0, 1),
        train_subset=5000,
        test_subset=None,
        template_width=96,
        num_templates=12,
        fit_iters=80,
        transfer=(),
        variants=CHOICES,
        ablation_seeds=(0, ),
        ablation_sizes=(ViTSize(8, 320, 5), ),
        nested_widths=(192, 256)),
    # The grid cut to what 2 CPU cores do in about 40 minutes: one seed,
    # budgets 1 and 3, smaller deep and wide targets (8x128, 6x160), the
    # lr chosen on 3 epochs, no ablations.
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
        select_budget=3,
        projection_epochs=(0, 1),
        random_epochs=(1, ),
        transfer_sizes=(ViTSize(4, 128, 4), ViTSize(6, 64, 2)),
        transfer_epochs=3),
    # Every piece once, at toy sizes: CI's smoke run.
    'quick':
    Mode(
        ancestry=ViTSize(4, 64, 2),
        ancestry_epochs=1,
        ancestry_subset=4000,
        sizes=(ViTSize(2, 64, 2), ViTSize(4, 32, 1)),
        budgets=(1, ),
        seeds=(0, ),
        train_subset=2000,
        test_subset=1000,
        val_images=500,
        template_width=32,
        num_templates=4,
        fit_iters=10,
        lrs=(2e-3, 1e-4),
        select_budget=1,
        batch=64,
        projection_epochs=(0, 1),
        transfer=('digits', ),
        transfer_sizes=(ViTSize(2, 64, 2), ),
        transfer_epochs=1,
        variants=('default', 'kron_st', 'split_qkv', 'no_holdout'),
        ablation_sizes=(ViTSize(2, 64, 2), ),
        nested_widths=(32, )),
}
