"""wave_mm: WAVE weight templates for MMPretrain.

Importing the package registers its components into mmpretrain's registries
and lets MMEngine checkpoints load under ``weights_only``.
"""
from . import datasets, engine, models  # noqa: F401
from .version import __version__

__all__ = ['__version__']
