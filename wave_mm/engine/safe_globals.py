"""Let MMEngine resume its own checkpoints under ``weights_only`` loading.

PyTorch >= 2.6 loads with ``weights_only=True``; MMEngine 0.10.7 pickles its
message hub (``HistoryBuffer`` holding numpy arrays) into every checkpoint.
Instead of turning safety off, exactly the globals those objects need are
allow-listed; anything else in a checkpoint is still refused.
"""
import builtins
import importlib
from typing import Any, List

import torch
from mmengine.logging import HistoryBuffer

# (module, name) pairs; numpy 2 moved ``numpy.core`` to ``numpy._core``.
_NUMPY_GLOBALS = [
    ('numpy', 'ndarray'),
    ('numpy', 'dtype'),
    ('numpy._core.multiarray', 'scalar'),
    ('numpy._core.multiarray', '_reconstruct'),
    ('numpy.core.multiarray', 'scalar'),
    ('numpy.core.multiarray', '_reconstruct'),
]


def mmengine_checkpoint_globals() -> List[Any]:
    """The globals an MMEngine 0.10.7 checkpoint pickles."""
    found: List[Any] = [HistoryBuffer, builtins.getattr]
    for module, name in _NUMPY_GLOBALS:
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    # numpy 2 reduces dtypes through their classes (``numpy.dtypes.*``).
    dtypes = importlib.import_module('numpy.dtypes')
    found += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith('DType')]
    return found


def allow_mmengine_checkpoints() -> None:
    """Allow-list :func:`mmengine_checkpoint_globals` for ``torch.load``."""
    torch.serialization.add_safe_globals(mmengine_checkpoint_globals())
