"""Models of both stages: the auxiliary backbones, distillation classifier
and head (stage 1), the initializers of stock ViTs (stage 2) and the
baselines. The shared pieces they stand on are in :mod:`wave_mm.core`,
re-exported here for convenience."""
from wave_mm.core import (ALL_GROUPS, GROUPS, KroneckerView, TemplateBank,
                          ViTLayout, default_specs)
from wave_mm.templates import ViTArch
from .backbones import (KroneckerProjectionInit, TLEGTemplate, WaveTemplate,
                        read_auxiliary)
from .classifiers import DistillImageClassifier, NarrowView
from .heads import KroneckerDistillHead
from .initializers import (FRONTInit, MimeticInit, TLEGInit, WaveInit,
                           WaveTarget, WeightSelectionInit)

__all__ = [
    'ALL_GROUPS', 'DistillImageClassifier', 'FRONTInit', 'GROUPS',
    'KroneckerDistillHead', 'KroneckerProjectionInit', 'KroneckerView',
    'MimeticInit', 'NarrowView', 'TLEGInit', 'TLEGTemplate', 'TemplateBank',
    'ViTArch', 'ViTLayout', 'WaveInit', 'WaveTarget', 'WaveTemplate',
    'WeightSelectionInit', 'default_specs', 'read_auxiliary'
]
