from .template_export_hook import TemplateExportHook, find_wave_template

__all__ = ['TemplateExportHook', 'find_wave_template']
