"""Models: the template bank, the ViT layout, backbone, head, classifier."""
from . import vit_compat
from .backbones import TLEGTemplate, WaveTemplate
from .classifiers import DistillImageClassifier
from .heads import KroneckerDistillHead
from .initializers import MimeticInit, TLEGInit, WaveInit
from .template_bank import TemplateBank
from .vit_layout import ALL_GROUPS, GROUPS, ViTArch, ViTLayout, default_specs
from .wave_target import WaveTarget

__all__ = [
    'ALL_GROUPS', 'DistillImageClassifier', 'GROUPS', 'KroneckerDistillHead',
    'MimeticInit', 'TLEGInit', 'TLEGTemplate', 'TemplateBank', 'ViTArch',
    'ViTLayout', 'WaveInit', 'WaveTarget', 'WaveTemplate', 'default_specs'
]

vit_compat.apply()
