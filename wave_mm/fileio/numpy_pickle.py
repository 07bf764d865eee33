"""The numpy values of an MMEngine checkpoint, rebuilt without trusting the
pickle.

An MMEngine checkpoint pickles its message hub's ``HistoryBuffer`` arrays
and a few numpy scalars as ``numpy._core.multiarray._reconstruct``,
``numpy.ndarray``, ``numpy.dtype`` and ``numpy._core.multiarray.scalar``.
Allow-listing those numpy objects themselves lets a pickle hand
``dtype.__setstate__`` any state (an object field with reference-counting
flags, say) and make numpy dereference pointers it chose. So those names are
bound to the stand-ins below: a dtype is a plain numeric type named by its
code (no fields, no objects, no sub-arrays), checked before numpy sees it,
and arrays and scalars are built from such dtypes and raw bytes only.
"""
from pickle import UnpicklingError
from typing import Any, List, Tuple

import numpy as np

#: dtype codes a checkpoint's arrays and scalars may have.
PLAIN_CODES = frozenset(
    ['b1', 'i1', 'i2', 'i4', 'i8', 'u1', 'u2', 'u4', 'u8', 'f2', 'f4', 'f8'])
_BYTE_ORDERS = frozenset('<>|=')


class PickledDtype:
    """What ``numpy.dtype(code, align, copy)`` and its state say, checked:
    stands in for ``numpy.dtype`` in a pickle."""

    def __init__(self, code: Any, align: Any = False, copy: Any = True):
        if not (isinstance(code, str) and code in PLAIN_CODES):
            raise UnpicklingError(
                f'numpy dtype {code!r:.40} is not allowed in a '
                f'checkpoint (plain numbers only)')
        self.code, self.order = code, '='

    def __setstate__(self, state: Any) -> None:
        # A plain dtype's state: (3, order, None, None, None, -1, -1, 0).
        if not (isinstance(state, tuple) and len(state) == 8 and state[0] == 3
                and state[1] in _BYTE_ORDERS and state[2:5]
                == (None, None, None) and state[5:] in ((-1, -1, 0), )):
            raise UnpicklingError(f'numpy dtype state {state!r:.80} is not a '
                                  'plain number\'s')
        self.order = state[1]

    def real(self) -> np.dtype:
        """The numpy dtype."""
        order = '=' if self.order == '|' else self.order
        return np.dtype(order + self.code)


class PickledArray(np.ndarray):
    """Stands in for ``numpy.ndarray`` in a pickle: only arrays of a
    :class:`PickledDtype` from raw bytes are built."""

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) == 5):
            raise UnpicklingError('numpy array state is malformed')
        version, shape, dtype, fortran, raw = state
        if not isinstance(dtype, PickledDtype):
            raise UnpicklingError(
                'numpy array has a dtype that is not allowed')
        if not (isinstance(raw,
                           (bytes, bytearray)) and isinstance(shape, tuple)
                and all(isinstance(n, int) for n in shape)):
            raise UnpicklingError('numpy array data is not raw bytes')
        super().__setstate__(
            (version, shape, dtype.real(), bool(fortran), bytes(raw)))

    def __reduce__(self):
        # Saved again (a resumed run's checkpoints) as a plain ndarray.
        return self.view(np.ndarray).__reduce__()


def reconstruct(cls: Any, shape: Any, typecode: Any) -> PickledArray:
    """Stands in for ``numpy._core.multiarray._reconstruct``."""
    if cls is not PickledArray:
        raise UnpicklingError('numpy _reconstruct of something not an ndarray')
    return PickledArray((0, ), dtype=np.uint8)


def scalar(dtype: Any, raw: Any = b'') -> np.generic:
    """Stands in for ``numpy._core.multiarray.scalar``."""
    if not isinstance(dtype, PickledDtype) or not isinstance(
            raw, (bytes, bytearray)):
        raise UnpicklingError('numpy scalar of a dtype that is not allowed')
    real = dtype.real()
    if len(raw) != real.itemsize:
        raise UnpicklingError('numpy scalar data has the wrong size')
    return np.frombuffer(bytes(raw), dtype=real)[0].copy()


def numpy_stand_ins() -> List[Tuple[Any, str]]:
    """``(stand-in, name)`` pairs for ``torch.serialization
    .add_safe_globals``, for numpy 2's and numpy 1's module names."""
    pairs = []
    for core in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        pairs += [(reconstruct, f'{core}._reconstruct'),
                  (scalar, f'{core}.scalar')]
    return pairs + [(PickledArray, 'numpy.ndarray'),
                    (PickledDtype, 'numpy.dtype')]
