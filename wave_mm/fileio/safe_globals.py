"""Let MMEngine resume its own checkpoints under ``weights_only`` loading.

PyTorch >= 2.6 loads with ``weights_only=True``; MMEngine 0.10.7 pickles its
message hub (``HistoryBuffer`` holding numpy arrays) into every checkpoint.
Instead of turning safety off, exactly the names those pickles use are
allow-listed, each bound to an object that can do no more than rebuild what
MMEngine saved; anything else in a checkpoint is still refused.

- ``HistoryBuffer`` pickles its statistics methods (``HistoryBuffer.mean``...),
  which pickle protocol 2 writes as ``builtins.getattr(HistoryBuffer,
  'mean')``. The real ``getattr`` would reach any attribute of any
  allow-listed object (and from there any builtin), so the name
  ``builtins.getattr`` is bound to :func:`history_buffer_attribute`, which
  resolves those four methods only.
- The numpy names and ``HistoryBuffer`` are bound to the stand-ins of
  :mod:`wave_mm.fileio.numpy_pickle`, which record what the pickle says;
  :func:`~wave_mm.fileio.numpy_pickle.materialise` then builds plain
  numeric arrays, scalars and history buffers from it, checked.
"""
import pickle
from typing import Any, Callable, List, Tuple, Union

import torch
from mmengine.logging import HistoryBuffer

from .numpy_pickle import PickledHistoryBuffer, numpy_stand_ins

#: The ``HistoryBuffer`` attributes an MMEngine checkpoint pickles.
HISTORY_BUFFER_METHODS = ('min', 'max', 'current', 'mean')


def history_buffer_attribute(owner: Any, name: Any) -> Callable:
    """Stand-in for ``getattr`` in unpickling: ``HistoryBuffer``'s
    statistics methods and nothing else."""
    if owner in (HistoryBuffer,
                 PickledHistoryBuffer) and name in HISTORY_BUFFER_METHODS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'getattr({getattr(owner, "__name__", type(owner).__name__)}, '
        f'{name!r}) is not allowed: only HistoryBuffer.'
        f'{{{",".join(HISTORY_BUFFER_METHODS)}}} are')


def mmengine_checkpoint_globals() -> List[Union[Any, Tuple[Any, str]]]:
    """The globals an MMEngine 0.10.7 checkpoint pickles, as
    ``torch.serialization.add_safe_globals`` takes them."""
    return [(history_buffer_attribute, 'builtins.getattr')] + numpy_stand_ins()


def allow_mmengine_checkpoints() -> None:
    """Allow-list :func:`mmengine_checkpoint_globals` for ``torch.load``."""
    torch.serialization.add_safe_globals(mmengine_checkpoint_globals())
