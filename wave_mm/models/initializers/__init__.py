"""Weight initializers that build stock ViTs from weight templates (stage
2), the scaler fit, and the baselines they are compared with."""
from .front_init import FRONTInit
from .mimetic_init import MimeticInit
from .scaler_fit import build_optim_wrapper, fit_scalers
from .tleg_init import TLEGInit
from .wave_init import WaveInit, read_templates
from .wave_target import WaveTarget
from .weight_selection import WeightSelectionInit

__all__ = [
    'FRONTInit', 'MimeticInit', 'TLEGInit', 'WaveInit', 'WaveTarget',
    'WeightSelectionInit', 'build_optim_wrapper', 'fit_scalers',
    'read_templates'
]
