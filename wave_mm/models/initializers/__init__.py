"""Weight initializers that build stock ViTs from weight templates, and
the baselines they are compared with."""
from .mimetic_init import MimeticInit
from .tleg_init import TLEGInit
from .wave_init import WaveInit, build_target, find_vit
from .weight_selection import WeightSelectionInit

__all__ = [
    'MimeticInit', 'TLEGInit', 'WaveInit', 'WeightSelectionInit',
    'build_target', 'find_vit'
]
