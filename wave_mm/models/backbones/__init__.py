from .auxiliary import classifier_head, read_auxiliary
from .kronecker_projection import KroneckerProjectionInit
from .tleg_template import TLEGTemplate
from .wave_template import WaveTemplate

__all__ = [
    'KroneckerProjectionInit', 'TLEGTemplate', 'WaveTemplate',
    'classifier_head', 'read_auxiliary'
]
