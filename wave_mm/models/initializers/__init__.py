"""Weight initializers that build stock ViTs from weight templates, and
the baselines they are compared with."""
from .wave_init import WaveInit, build_target, find_vit
from .weight_selection import WeightSelectionInit

__all__ = ['WaveInit', 'WeightSelectionInit', 'build_target', 'find_vit']
