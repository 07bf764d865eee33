"""``WaveInit``: initialise a stock ViT from a templates file.

Usable wherever mmengine takes an ``init_cfg``, on the backbone or on the
whole ``ImageClassifier``::

    init_cfg=dict(type='WaveInit',
                  templates='work_dirs/x/templates.safetensors')
"""
from typing import Dict, Optional

from mmengine.logging import print_log
from mmengine.model import BaseInit, update_init_info
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_INITIALIZERS
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.registry import WEIGHT_INITIALIZERS
from torch import Tensor, nn

from wave_mm.kronecker import DepthRule, WidthRule
from wave_mm.templates import load_scalers, load_templates
from ..wave_target import WaveTarget


def find_vit(module: nn.Module) -> VisionTransformer:
    """The ``VisionTransformer`` that ``module`` is or has as ``backbone``."""
    if isinstance(module, VisionTransformer):
        return module
    backbone = getattr(module, 'backbone', None)
    if isinstance(backbone, VisionTransformer):
        return backbone
    raise TypeError(f'WaveInit initialises an mmpretrain VisionTransformer or '
                    f'a model whose backbone is one, got '
                    f'{type(module).__name__} (backbone '
                    f'{type(backbone).__name__})')


def build_target(module: nn.Module,
                 templates: str,
                 scalers: Optional[str] = None,
                 width_rule: WidthRule = 'scaled',
                 depth_rule: DepthRule = 'first') -> WaveTarget:
    """Read the files and build the :class:`WaveTarget` of ``module``."""
    return WaveTarget(
        find_vit(module),
        load_templates(templates),
        load_scalers(scalers) if scalers else None,
        width_rule,
        source=templates,
        scalers_source=scalers or 'scalers',
        depth_rule=depth_rule)


def mark_initialised(init: BaseInit, module: nn.Module, vit: VisionTransformer,
                     message: str) -> None:
    """After ``init`` wrote ``vit``: keep later ``init_weights`` calls of its
    submodules off it, log ``message`` and credit ``init`` in the init log.
    """
    for sub in vit.modules():
        if hasattr(sub, '_is_init'):
            sub._is_init = True
    print_log(message, logger='current')
    if hasattr(module, '_params_init_info'):
        update_init_info(module, init_info=init._get_init_info())


def load_head(module: nn.Module, values: Dict[str, Tensor],
              source: str) -> None:
    """Copy an auxiliary's head (``values``, from ``source``) into the
    head of the classifier ``module`` and keep later inits off it."""
    head = getattr(module, 'head', None)
    if head is None or not values:
        raise ValueError(f'head=True: {source} stores no classifier head, or '
                         'the initializer is not on a classifier with a head')
    own = head.state_dict()
    wrong = {
        k: (tuple(v.shape), tuple(own[k].shape) if k in own else None)
        for k, v in values.items() if k not in own or own[k].shape != v.shape
    }
    if wrong:
        raise ValueError(f'head=True: the head stored in {source} does not '
                         'fit the target head (name: stored vs target '
                         f'shape): {wrong}')
    head.load_state_dict(values, strict=False)
    for sub in head.modules():
        sub._is_init = True


@WEIGHT_INITIALIZERS.register_module(name='WaveInit')
class WaveInit(BaseInit):
    """Initialise a stock ViT from weight templates (stage 2 of WAVE).

    Every templated tensor of the ViT is composed from the templates and the
    target's scalers; the ViT and all its submodules are then marked
    initialised so no later ``init_weights`` (FFN xavier, ``pos_embed``
    re-draw) overwrites them. A classifier's head is left to its own init
    unless ``head=True``.

    Args:
        templates: Path of a templates file (``*.safetensors``).
        scalers: Path of a scalers file fitted for this arch by the
            ``ScalerInitHook``; ``None`` derives the scalers data-free from
            the auxiliary's (see :class:`~wave_mm.models.WaveTarget`).
        width_rule: Data-free rule on the block grid, ``'scaled'``,
            ``'crop'`` or ``'mean'`` (see :class:`WaveTarget`).
        depth_rule: Data-free rule along depth, ``'first'`` or
            ``'interp'`` (see :class:`WaveTarget`).
        head: Also initialise the classifier's head from the auxiliary's
            (stored in the templates file), resampled to the target's width;
            for targets that predict the auxiliary's classes. Needs WaveInit
            on the whole classifier.
    """

    def __init__(self,
                 templates: str,
                 scalers: Optional[str] = None,
                 width_rule: WidthRule = 'scaled',
                 depth_rule: DepthRule = 'first',
                 head: bool = False,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.templates = templates
        self.scalers = scalers
        self.width_rule = width_rule
        self.depth_rule = depth_rule
        self.head = head

    def __call__(self, module: nn.Module) -> None:
        target = build_target(module, self.templates, self.scalers,
                              self.width_rule, self.depth_rule)
        vit = find_vit(module)
        state = target.write_into(vit)
        if self.head:
            load_head(module, target.head_state(), self.templates)
        mark_initialised(
            self, module, vit, f'WaveInit: {len(state)} tensors of '
            f'{type(vit).__name__} from {self.templates} '
            f'({target.bank.num_scalers()} scalers)')

    def _get_init_info(self) -> str:
        return (f'{self.__class__.__name__}: templates={self.templates}, '
                f'scalers={self.scalers}, width_rule={self.width_rule}, '
                f'depth_rule={self.depth_rule}, head={self.head}')


# Found by ``initialize()`` with or without the mmpretrain default scope.
MMENGINE_INITIALIZERS.register_module(name='WaveInit', module=WaveInit)
