from .scaler_init_hook import ScalerInitHook
from .template_export_hook import TemplateExportHook, find_wave_template

__all__ = ['ScalerInitHook', 'TemplateExportHook', 'find_wave_template']
