"""Small, tested shims for mmpretrain's ``VisionTransformer``.

1. ``VisionTransformer.init_weights`` re-draws ``pos_embed`` (and DeiT's
``DistilledVisionTransformer`` its ``dist_token``) after its ``init_cfg``
ran unless that ``init_cfg`` is ``Pretrained``. An initializer
cannot prevent what runs after it, so :func:`apply` makes it treat every
:class:`~wave_mm.core.ViTInitializer` whose ``owns_vit`` is set (``WaveInit``
and the baselines that write the whole ViT) like ``Pretrained``. Applied
once, when ``wave_mm`` registers its components.

2. Its DropPath rates are numpy scalars, which break ``torch.compile``
graphs; :func:`float_drop_prob` casts them.
"""
from typing import Callable

import numpy as np
from mmengine.model import BaseModule
from mmpretrain.models.backbones import (DistilledVisionTransformer,
                                         VisionTransformer)
from mmpretrain.registry import WEIGHT_INITIALIZERS
from torch import nn

from .initializer import ViTInitializer


def owns_vit(init_cfg) -> bool:
    """Whether ``init_cfg`` (dict or list of dicts) holds an initializer
    that writes the whole ViT."""
    cfgs = init_cfg if isinstance(init_cfg, list) else [init_cfg]
    for cfg in cfgs:
        kind = cfg.get('type') if isinstance(cfg, dict) else None
        if isinstance(kind, str):
            kind = WEIGHT_INITIALIZERS.get(kind)
        if (isinstance(kind, type) and issubclass(kind, ViTInitializer)
                and kind.owns_vit):
            return True
    return False


def _patched(original: Callable) -> Callable:

    def init_weights(self: VisionTransformer) -> None:
        if owns_vit(self.init_cfg):
            BaseModule.init_weights(self)
        else:
            original(self)

    init_weights.__wrapped__ = original
    init_weights.__doc__ = original.__doc__
    return init_weights


def apply() -> None:
    """Patch ``init_weights`` of ``VisionTransformer`` and of DeiT's
    ``DistilledVisionTransformer`` (which re-draws its ``dist_token``)
    (idempotent)."""
    for cls in (VisionTransformer, DistilledVisionTransformer):
        current = cls.__dict__['init_weights']
        if not hasattr(current, '__wrapped__'):
            cls.init_weights = _patched(current)


def float_drop_prob(model: nn.Module) -> None:
    """Cast the numpy ``drop_prob`` of mmcv's ``DropPath`` to ``float``.

    mmpretrain's ViT takes per-layer rates from ``np.linspace``; dynamo
    treats a numpy scalar as a tensor, so ``if drop_prob == 0.`` in
    ``drop_path`` breaks the graph in every layer.
    """
    for module in model.modules():
        if isinstance(getattr(module, 'drop_prob', None), np.generic):
            module.drop_prob = float(module.drop_prob)
