"""Weight templates as data: their specs and the files that store them."""
from .file import (FORMAT_VERSION, Scalers, Templates, TemplatesFileError,
                   TemplateSpec, content_hash, load_scalers, load_templates,
                   save_scalers, save_templates)

__all__ = [
    'FORMAT_VERSION', 'Scalers', 'Templates', 'TemplatesFileError',
    'TemplateSpec', 'content_hash', 'load_scalers', 'load_templates',
    'save_scalers', 'save_templates'
]
