"""``WaveInit``: initialise a stock ViT from a templates file.

Usable wherever mmengine takes an ``init_cfg``, on the backbone or on the
whole ``ImageClassifier``::

    init_cfg=dict(type='WaveInit',
                  templates='work_dirs/x/templates.safetensors')
"""
from typing import Optional

from mmengine.logging import print_log
from mmengine.model import BaseInit, update_init_info
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_INITIALIZERS
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.registry import WEIGHT_INITIALIZERS
from torch import nn

from wave_mm.kronecker import WidthRule
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
                 width_rule: WidthRule = 'crop') -> WaveTarget:
    """Read the files and build the :class:`WaveTarget` of ``module``."""
    return WaveTarget(
        find_vit(module),
        load_templates(templates),
        load_scalers(scalers) if scalers else None,
        width_rule,
        source=templates,
        scalers_source=scalers or 'scalers')


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


@WEIGHT_INITIALIZERS.register_module(name='WaveInit')
class WaveInit(BaseInit):
    """Initialise a stock ViT from weight templates (stage 2 of WAVE).

    Every templated tensor of the ViT is composed from the templates and the
    target's scalers; the ViT and all its submodules are then marked
    initialised so no later ``init_weights`` (FFN xavier, ``pos_embed``
    re-draw) overwrites them. A classifier's head is left to its own init.

    Args:
        templates: Path of a templates file (``*.safetensors``).
        scalers: Path of a scalers file fitted for this arch by the
            ``ScalerInitHook``; ``None`` derives the scalers data-free from
            the auxiliary's (see :class:`~wave_mm.models.WaveTarget`).
        width_rule: Data-free rule on the block grid, ``'crop'`` or
            ``'mean'``.
    """

    def __init__(self,
                 templates: str,
                 scalers: Optional[str] = None,
                 width_rule: WidthRule = 'crop',
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.templates = templates
        self.scalers = scalers
        self.width_rule = width_rule

    def __call__(self, module: nn.Module) -> None:
        target = build_target(module, self.templates, self.scalers,
                              self.width_rule)
        vit = find_vit(module)
        state = target.write_into(vit)
        mark_initialised(
            self, module, vit, f'WaveInit: {len(state)} tensors of '
            f'{type(vit).__name__} from {self.templates} '
            f'({target.bank.num_scalers()} scalers)')

    def _get_init_info(self) -> str:
        return (f'{self.__class__.__name__}: templates={self.templates}, '
                f'scalers={self.scalers}, width_rule={self.width_rule}')


# Found by ``initialize()`` with or without the mmpretrain default scope.
MMENGINE_INITIALIZERS.register_module(name='WaveInit', module=WaveInit)
