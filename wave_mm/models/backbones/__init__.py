from .wave_template import WaveTemplate

__all__ = ['WaveTemplate']
