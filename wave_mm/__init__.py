"""wave_mm: WAVE weight templates for MMPretrain.

Importing the package registers its components into mmpretrain's registries,
lets MMEngine checkpoints resume under ``weights_only`` loading (allow-listing
exactly what they pickle) and routes MMEngine's checkpoint loads through
:func:`wave_mm.fileio.load_checkpoint`, which never runs pickled code.
"""
from . import datasets, engine, fileio, models  # noqa: F401
from .version import __version__

fileio.allow_mmengine_checkpoints()
fileio.register_mmengine_loaders()

__all__ = ['__version__']
