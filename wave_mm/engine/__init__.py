"""Engine pieces: hooks and safe checkpoint loading."""
from .hooks import ScalerInitHook, TemplateExportHook
from .safe_globals import allow_mmengine_checkpoints

allow_mmengine_checkpoints()

__all__ = [
    'ScalerInitHook', 'TemplateExportHook', 'allow_mmengine_checkpoints'
]
