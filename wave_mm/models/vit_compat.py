"""Small, tested shims for mmpretrain's ``VisionTransformer``.

1. ``VisionTransformer.init_weights`` re-draws ``pos_embed`` after its
``init_cfg`` ran unless that ``init_cfg`` is ``Pretrained``. An initializer
cannot prevent what runs after it, so this shim treats ``WaveInit`` (and any
initializer listed in :data:`HONOURED`) like ``Pretrained``. Applied once, on
``import wave_mm``.

2. Its DropPath rates are numpy scalars, which break ``torch.compile``
graphs; :func:`float_drop_prob` casts them.
"""
from typing import Callable

import numpy as np
from mmengine.model import BaseModule
from mmpretrain.models.backbones import VisionTransformer
from torch import nn

#: ``init_cfg`` types whose tensors ``init_weights`` must not re-draw.
HONOURED = {'WaveInit', 'WeightSelectionInit', 'TLEGInit'}


def uses_honoured_init(init_cfg) -> bool:
    """Whether ``init_cfg`` (dict or list of dicts) holds a honoured type."""
    cfgs = init_cfg if isinstance(init_cfg, list) else [init_cfg]
    return any(
        isinstance(c, dict)
        and getattr(c.get('type'), '__name__', c.get('type')) in HONOURED
        for c in cfgs)


def _patched(original: Callable) -> Callable:

    def init_weights(self: VisionTransformer) -> None:
        if uses_honoured_init(self.init_cfg):
            BaseModule.init_weights(self)
        else:
            original(self)

    init_weights.__wrapped__ = original
    init_weights.__doc__ = original.__doc__
    return init_weights


def apply() -> None:
    """Patch ``VisionTransformer.init_weights`` (idempotent)."""
    current = VisionTransformer.init_weights
    if not hasattr(current, '__wrapped__'):
        VisionTransformer.init_weights = _patched(current)


def float_drop_prob(model: nn.Module) -> None:
    """Cast the numpy ``drop_prob`` of mmcv's ``DropPath`` to ``float``.

    mmpretrain's ViT takes per-layer rates from ``np.linspace``; dynamo
    treats a numpy scalar as a tensor, so ``if drop_prob == 0.`` in
    ``drop_path`` breaks the graph in every layer.
    """
    for module in model.modules():
        if isinstance(getattr(module, 'drop_prob', None), np.generic):
            module.drop_prob = float(module.drop_prob)
