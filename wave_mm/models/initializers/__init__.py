"""Weight initializers that build stock ViTs from weight templates."""
from . import vit_compat
from .wave_init import WaveInit, build_target, find_vit

vit_compat.apply()

__all__ = ['WaveInit', 'build_target', 'find_vit']
