"""Weight templates as data: their specs and the files that store them."""
from wave_mm.fileio import TemplatesFileError
from .arch import ViTArch
from .file import load_scalers, load_templates, save_scalers, save_templates
from .format import (FORMAT_VERSION, FUSED_TYPES, HEAD_PREFIX, InitKind,
                     Scalers, Templates, TemplateSpec, content_hash)

__all__ = [
    'FORMAT_VERSION', 'FUSED_TYPES', 'HEAD_PREFIX', 'InitKind', 'Scalers',
    'Templates', 'TemplatesFileError', 'TemplateSpec', 'ViTArch',
    'content_hash', 'load_scalers', 'load_templates', 'save_scalers',
    'save_templates'
]
