"""Weight initializers that build stock ViTs from weight templates."""
from .wave_init import WaveInit, build_target, find_vit

__all__ = ['WaveInit', 'build_target', 'find_vit']
