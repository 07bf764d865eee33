from .tleg_template import TLEGTemplate
from .wave_template import WaveTemplate

__all__ = ['TLEGTemplate', 'WaveTemplate']
