"""wave_mm: WAVE weight templates for MMPretrain.

Importing the package registers its components into mmpretrain's registries,
lets MMEngine checkpoints resume under ``weights_only`` loading (allow-listing
exactly what they pickle), routes MMEngine's checkpoint loads through
:func:`wave_mm.fileio.load_checkpoint`, which never runs pickled code, and
applies the small ``VisionTransformer`` shim of :mod:`wave_mm.core.vit_compat`.

Layers, and the import rules between them (``tests/test_import_rules.py``
checks them on the sources):

- maths: :mod:`wave_mm.kronecker`, :mod:`wave_mm.kernels` (pure torch)
  import no other layer;
- files: :mod:`wave_mm.templates`, :mod:`wave_mm.fileio` import the maths;
- core: :mod:`wave_mm.core` (weight types, layout, bank, Kronecker view,
  data-free rule, teacher, distillation loss, initializer base) imports
  files and maths;
- stage 1, distilling templates (``models.backbones``,
  ``models.classifiers``, ``models.heads``, the ``TemplateExportHook``),
  and stage 2, initialising targets (``WaveInit``, ``WaveTarget``, the
  scaler fit, the ``ScalerInitHook``), import the core and below, never
  each other;
- the baselines (``WeightSelectionInit``, ``TLEGInit``, ``MimeticInit``,
  ``FRONTInit``) import only the core and below;
- packages that only register or re-export (this one, ``wave_mm.models``,
  ``wave_mm.engine``) are imported by no layer.
"""
from . import datasets, engine, fileio, models  # noqa: F401
from .core import vit_compat
from .version import __version__

fileio.allow_mmengine_checkpoints()
fileio.register_mmengine_loaders()
vit_compat.apply()

__all__ = ['__version__']
