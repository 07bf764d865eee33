"""Engine pieces: the hooks."""
from .hooks import ScalerInitHook, TemplateExportHook

__all__ = ['ScalerInitHook', 'TemplateExportHook']
