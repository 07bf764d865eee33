"""The numpy values and history buffers of an MMEngine checkpoint, rebuilt
without trusting the pickle.

An MMEngine checkpoint pickles its message hub's ``HistoryBuffer`` objects
(numpy arrays inside) and a few numpy scalars, through the names
``numpy._core.multiarray._reconstruct``, ``numpy.ndarray``, ``numpy.dtype``,
``numpy._core.multiarray.scalar`` and ``mmengine...HistoryBuffer``.
Allow-listing those objects themselves hands a pickle numpy's constructors
and ``__setstate__`` (object arrays over forged pointers, views of freed
buffers) and ``HistoryBuffer.__setstate__``, which writes a dict shared by
every buffer. So each name is bound to a stand-in that only records what the
pickle says; :func:`materialise` then checks it and builds fresh objects:
plain numeric arrays that own copies of their bytes, and history buffers
made by their constructor.
"""
from pickle import UnpicklingError
from typing import Any, List, Tuple

import numpy as np
from mmengine.logging import HistoryBuffer

#: dtype codes a checkpoint's arrays and scalars may have.
PLAIN_CODES = frozenset(
    ['b1', 'i1', 'i2', 'i4', 'i8', 'u1', 'u2', 'u4', 'u8', 'f2', 'f4', 'f8'])
_BYTE_ORDERS = frozenset('<>|=')
_MAX_DIMS = 32
_MAX_DEPTH = 64


class _Recorded:
    """Built by the unpickler, filled once by its BUILD."""

    state: Any = None

    def __new__(cls, *args: Any) -> '_Recorded':
        if args:
            raise UnpicklingError(f'{cls.__name__} takes no arguments')
        return super().__new__(cls)

    def __setstate__(self, state: Any) -> None:
        if self.state is not None:
            raise UnpicklingError('a numpy or HistoryBuffer value is built '
                                  'twice')
        self.state = state


class PickledDtype(_Recorded):
    """Stands in for ``numpy.dtype(code, align, copy)``."""

    def __new__(cls, code: Any = None, align: Any = False, copy: Any = True):
        if not (isinstance(code, str) and code in PLAIN_CODES):
            raise UnpicklingError(f'numpy dtype {type(code).__name__} '
                                  f'{str(code)[:20]!r} is not allowed in a '
                                  'checkpoint (plain numbers only)')
        self = object.__new__(cls)
        self.code = code
        return self

    def real(self) -> np.dtype:
        """The numpy dtype, once its state is checked."""
        state = self.state
        # A plain dtype's state: (3, order, None, None, None, -1, -1, 0).
        if state is None:
            return np.dtype(self.code)
        if not (isinstance(state, tuple) and len(state) == 8 and state[0] == 3
                and state[1] in _BYTE_ORDERS
                and state[2:] == (None, None, None, -1, -1, 0)):
            raise UnpicklingError(f'numpy dtype state {state!r:.80} is not '
                                  'a plain number\'s')
        order = '=' if state[1] == '|' else state[1]
        return np.dtype(order + self.code)


class PickledArray(_Recorded):
    """Stands in for the array ``numpy._core.multiarray._reconstruct``
    starts; its BUILD state is ``(version, shape, dtype, fortran, raw)``."""

    def real(self) -> np.ndarray:
        """A fresh array that owns a copy of the recorded bytes."""
        state = self.state
        if not (isinstance(state, tuple) and len(state) == 5):
            raise UnpicklingError('numpy array state is malformed')
        _, shape, dtype, fortran, raw = state
        if not isinstance(dtype, PickledDtype):
            raise UnpicklingError('numpy array of a dtype not allowed')
        if not (isinstance(shape, tuple) and len(shape) <= _MAX_DIMS and all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 0
                for n in shape) and isinstance(raw, (bytes, bytearray))):
            raise UnpicklingError('numpy array shape or data is malformed')
        real = dtype.real()
        if int(np.prod(shape, dtype=np.int64)) * real.itemsize != len(raw):
            raise UnpicklingError('numpy array data does not fit its shape')
        flat = np.frombuffer(bytes(raw), dtype=real)
        return flat.reshape(shape, order='F' if fortran else 'C').copy()


class ArrayToken:
    """Stands in for ``numpy.ndarray``: only :func:`reconstruct` takes it."""

    def __new__(cls, *args: Any) -> None:
        raise UnpicklingError('numpy.ndarray cannot be built directly')


class PickledHistoryBuffer(_Recorded):
    """Stands in for MMEngine's ``HistoryBuffer``."""

    def real(self) -> HistoryBuffer:
        """A new buffer from the recorded histories and length; the
        recorded statistics methods are ignored (the class has its own)."""
        state = self.state
        if not isinstance(state, dict):
            raise UnpicklingError('HistoryBuffer state is malformed')
        histories = []
        for key in ('_log_history', '_count_history'):
            value = materialise(state.get(key, np.array([])), 1)
            if not (isinstance(value, np.ndarray) and value.ndim == 1):
                raise UnpicklingError(f'HistoryBuffer {key} is malformed')
            histories.append(value)
        if len(histories[0]) != len(histories[1]):
            raise UnpicklingError('HistoryBuffer histories differ in length')
        length = state.get('max_length', 1000000)
        if not isinstance(length, int) or isinstance(length,
                                                     bool) or length < 1:
            raise UnpicklingError('HistoryBuffer max_length is malformed')
        return HistoryBuffer(histories[0], histories[1], length)


def reconstruct(cls: Any, shape: Any, typecode: Any) -> PickledArray:
    """Stands in for ``numpy._core.multiarray._reconstruct``."""
    if cls is not ArrayToken:
        raise UnpicklingError('numpy _reconstruct of something not an '
                              'ndarray')
    return PickledArray()


def scalar(dtype: Any, raw: Any = b'') -> np.generic:
    """Stands in for ``numpy._core.multiarray.scalar``."""
    if not isinstance(dtype, PickledDtype) or not isinstance(
            raw, (bytes, bytearray)):
        raise UnpicklingError('numpy scalar of a dtype not allowed')
    real = dtype.real()
    if len(raw) != real.itemsize:
        raise UnpicklingError('numpy scalar data has the wrong size')
    return np.frombuffer(bytes(raw), dtype=real)[0].copy()


def materialise(value: Any, depth: int = 0) -> Any:
    """``value`` with every recorded stand-in replaced by the checked, fresh
    object it stands for (containers are rebuilt, other values kept)."""
    if depth > _MAX_DEPTH:
        raise UnpicklingError(f'a checkpoint nested deeper than '
                              f'{_MAX_DEPTH} levels')
    if isinstance(value, (PickledArray, PickledDtype, PickledHistoryBuffer)):
        return value.real()
    if isinstance(value, dict):
        items = [(k, materialise(v, depth + 1)) for k, v in value.items()]
        if type(value) is dict:
            return dict(items)
        value.clear()  # an OrderedDict (a state dict) keeps its type
        value.update(items)
        return value
    if isinstance(value, (list, tuple)):
        items = [materialise(v, depth + 1) for v in value]
        return items if isinstance(value, list) else tuple(items)
    return value


def numpy_stand_ins() -> List[Tuple[Any, str]]:
    """``(stand-in, name)`` pairs for ``torch.serialization
    .add_safe_globals``, for numpy 2's and numpy 1's module names."""
    pairs: List[Tuple[Any, str]] = []
    for core in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        pairs += [(reconstruct, f'{core}._reconstruct'),
                  (scalar, f'{core}.scalar')]
    return pairs + [
        (ArrayToken, 'numpy.ndarray'),
        (PickledDtype, 'numpy.dtype'),
        (PickledArray, 'wave_mm.fileio.numpy_pickle.PickledArray'),
        (PickledHistoryBuffer,
         'mmengine.logging.history_buffer.HistoryBuffer'),
    ]
