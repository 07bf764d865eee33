"""numpy values and history buffers of checkpoints: only recorded by the
unpickler, then checked and built fresh."""
import pytest
from hostile import (op_bytes, op_global, op_int, op_str, op_tuple,
                     raw_checkpoint)
from mmengine.logging import HistoryBuffer

from wave_mm.fileio import TemplatesFileError, load_checkpoint

NEWOBJ, BUILD, DICT, SETITEM = b'\x81', b'b', b'}', b's'
PLAIN_STATE = op_tuple(
    op_int(3), op_str('|'), b'N', b'N', b'N', op_int(-1), op_int(-1),
    op_int(0))


def _dtype(code='u1'):
    return (op_global('numpy', 'dtype') +
            op_tuple(op_str(code), b'\x89', b'\x88') + b'R' + PLAIN_STATE +
            BUILD)


def test_ndarray_cannot_be_built_from_the_pickle(tmp_path):
    """An object array over forged pointers (``ndarray.__new__`` with the
    file's buffer) would be freed or read as pointers."""
    forged = op_global('numpy', 'ndarray') + op_tuple(
        op_int(1) + b'\x85', op_str('O'), op_bytes(b'AAAAAAAA')) + NEWOBJ
    path = raw_checkpoint(
        str(tmp_path / 'forged.pth'), DICT + op_str('meta') + forged + SETITEM)
    with pytest.raises(TemplatesFileError, match='forged.pth: refused'):
        load_checkpoint(path)


def test_an_array_is_built_once(tmp_path):
    """A second BUILD would free the data a view of the array still uses."""
    array = (
        op_global('numpy._core.multiarray', '_reconstruct') + op_tuple(
            op_global('numpy', 'ndarray'),
            op_int(0) + b'\x85', op_bytes(b'b')) + b'R')
    state = op_tuple(
        op_int(1),
        op_int(4) + b'\x85', _dtype(), b'\x89', op_bytes(b'\x01' * 4))
    path = raw_checkpoint(
        str(tmp_path / 'twice.pth'),
        DICT + op_str('a') + array + state + BUILD + state + BUILD + SETITEM)
    with pytest.raises(TemplatesFileError, match='built twice'):
        load_checkpoint(path)
    once = raw_checkpoint(
        str(tmp_path / 'once.pth'),
        DICT + op_str('a') + array + state + BUILD + SETITEM)
    loaded = load_checkpoint(once)['a']
    assert loaded.flags.owndata and loaded.tolist() == [1, 1, 1, 1]


def test_history_buffers_leave_the_class_alone(tmp_path):
    before = dict(HistoryBuffer._statistics_methods)
    buffer = (
        op_global('mmengine.logging.history_buffer', 'HistoryBuffer') + b')' +
        NEWOBJ + DICT + op_str('statistics_methods') + DICT + op_str('mean') +
        op_str('not a function') + SETITEM + SETITEM + BUILD)
    path = raw_checkpoint(
        str(tmp_path / 'hub.pth'), DICT + op_str('loss') + buffer + SETITEM)
    loaded = load_checkpoint(path)['loss']
    assert isinstance(loaded, HistoryBuffer)
    assert dict(HistoryBuffer._statistics_methods) == before
    loaded.update(2.0)
    assert loaded.mean() == 2.0


def test_shapes_must_fit_the_data(tmp_path):
    array = (
        op_global('numpy._core.multiarray', '_reconstruct') + op_tuple(
            op_global('numpy', 'ndarray'),
            op_int(0) + b'\x85', op_bytes(b'b')) + b'R')
    for shape, data in ((op_int(8), b'\x01' * 4), (op_int(-1), b''),
                        (op_int(1 << 30), b'\x01')):
        state = op_tuple(
            op_int(1), shape + b'\x85', _dtype(), b'\x89', op_bytes(data))
        path = raw_checkpoint(
            str(tmp_path / 'shape.pth'), array + state + BUILD)
        with pytest.raises(TemplatesFileError, match='shape.pth: refused'):
            load_checkpoint(path)
