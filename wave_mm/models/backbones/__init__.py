from .auxiliary import classifier_head, read_auxiliary
from .tleg_template import TLEGTemplate
from .wave_template import WaveTemplate

__all__ = ['TLEGTemplate', 'WaveTemplate', 'classifier_head', 'read_auxiliary']
