"""Files in and out, safely: the atomic writer, checkpoint loading that never
runs pickled code, the literal-only reader of stored configs, and the one
error they raise. Imports torch and (for the allow-list) mmengine only.
"""
from .atomic import atomic_write, check_not_input, temporary_files
from .checkpoint import (load_checkpoint, load_checkpoint_bytes, meta_of,
                         register_mmengine_loaders, save_checkpoint,
                         state_dict_of)
from .errors import TemplatesFileError
from .literal_config import literal_assignment
from .safe_globals import allow_mmengine_checkpoints

__all__ = [
    'TemplatesFileError', 'allow_mmengine_checkpoints', 'atomic_write',
    'check_not_input', 'literal_assignment', 'load_checkpoint',
    'load_checkpoint_bytes', 'meta_of', 'register_mmengine_loaders',
    'save_checkpoint', 'state_dict_of', 'temporary_files'
]
