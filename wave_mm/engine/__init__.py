"""Engine pieces: hooks and safe checkpoint loading."""
from .safe_globals import allow_mmengine_checkpoints

allow_mmengine_checkpoints()

__all__ = ['allow_mmengine_checkpoints']
