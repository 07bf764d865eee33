"""Make mmpretrain's ``VisionTransformer.init_weights`` honour ``WaveInit``.

``VisionTransformer.init_weights`` re-draws ``pos_embed`` after its
``init_cfg`` ran unless that ``init_cfg`` is ``Pretrained``. An initializer
cannot prevent what runs after it, so this shim treats ``WaveInit`` (and any
initializer listed in :data:`HONOURED`) like ``Pretrained``. Applied once, on
``import wave_mm``.
"""
from typing import Callable

from mmengine.model import BaseModule
from mmpretrain.models.backbones import VisionTransformer

#: ``init_cfg`` types whose tensors ``init_weights`` must not re-draw.
HONOURED = {'WaveInit'}


def uses_honoured_init(init_cfg) -> bool:
    """Whether ``init_cfg`` (dict or list of dicts) holds a honoured type."""
    cfgs = init_cfg if isinstance(init_cfg, list) else [init_cfg]
    return any(
        isinstance(c, dict) and getattr(c.get('type'), '__name__',
                                        c.get('type')) in HONOURED
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
