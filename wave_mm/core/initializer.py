"""What every initializer of a stock ViT shares: finding the ViT, loading a
head, marking the ViT initialised, and registration.

An initializer derived from :class:`ViTInitializer` writes the whole ViT;
:mod:`wave_mm.core.vit_compat` then keeps ``VisionTransformer.init_weights``
from re-drawing its ``pos_embed`` afterwards (``owns_vit``).
"""
from typing import Dict, Type, TypeVar

from mmengine.logging import print_log
from mmengine.model import BaseInit, update_init_info
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_INITIALIZERS
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.registry import WEIGHT_INITIALIZERS
from torch import Tensor, nn

Init = TypeVar('Init', bound=Type[BaseInit])


class ViTInitializer(BaseInit):
    """Base of wave_mm's initializers of an mmpretrain ``VisionTransformer``
    (on the backbone or on a classifier whose backbone it is)."""

    #: Whether it writes every tensor of the ViT, so that the stock
    #: ``init_weights`` must not re-draw ``pos_embed`` after it.
    owns_vit: bool = True


def register_initializer(cls: Init) -> Init:
    """Register ``cls`` under its name in mmpretrain's and MMEngine's
    ``WEIGHT_INITIALIZERS``, so ``initialize()`` finds it with or without
    the mmpretrain default scope."""
    WEIGHT_INITIALIZERS.register_module(name=cls.__name__, module=cls)
    MMENGINE_INITIALIZERS.register_module(name=cls.__name__, module=cls)
    return cls


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
