"""Hostile pickles for the loader tests (imported as ``hostile``).

Each payload, if it ever ran, would create the file ``marker``. They reach
a builtin by different routes: a plain reduce to ``os.system`` or ``exec``,
and ``getattr`` chains through functions that torch or wave_mm allow-list
(``getattr(f, '__globals__')['__builtins__']['exec']``).
"""
import os
from typing import Any, Callable, Dict

import torch
from mmengine.logging import HistoryBuffer


class Reduce:
    """Pickles as ``func(*args)``; ``func`` and ``args`` may be Reduces."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args

    def __call__(self, *args: Any) -> Any:
        # The pickler wants a callable first item; only unpickling calls.
        raise TypeError('a payload is only ever called by an unpickler')


def _exec_via_globals(function: Any, code: str) -> Reduce:
    """``function.__globals__['__builtins__']['exec'](code)``, by getattr."""
    globals_ = Reduce(getattr, function, '__globals__')
    builtins = Reduce(Reduce(getattr, globals_, 'get'), '__builtins__')
    exec_ = Reduce(Reduce(getattr, builtins, 'get'), 'exec')
    return Reduce(exec_, code)


def payloads(marker: str) -> Dict[str, Callable[[], Any]]:
    """Checkpoint objects by route name; each would create ``marker``."""
    code = f'open({marker!r}, "w").close()'
    state = {'w': torch.zeros(2)}
    routes = {
        'os.system':
        Reduce(os.system, f'touch {marker}'),
        'exec':
        Reduce(exec, code),
        'getattr via torch rebuild':
        _exec_via_globals(torch._utils._rebuild_tensor_v2, code),
        'getattr via HistoryBuffer.mean':
        _exec_via_globals(Reduce(getattr, HistoryBuffer, 'mean'), code),
        'getattr via HistoryBuffer.__init__':
        _exec_via_globals(Reduce(getattr, HistoryBuffer, '__init__'), code),
    }
    out = {}
    for name, payload in routes.items():
        out[f'{name}, top level'] = payload
        out[f'{name}, in state_dict'] = {
            'state_dict': dict(state, evil=payload)
        }
    out['exec, in message_hub'] = {
        'meta': {},
        'state_dict': state,
        'message_hub': {
            'log_scalars': {
                'loss': routes['exec']
            }
        }
    }
    return out


def save_pickle(path: str, obj: Any) -> str:
    """``torch.save`` (pickle protocol 2, as MMEngine saves)."""
    torch.save(obj, path)
    return path


# Raw protocol-2 pickle pieces, for payloads ``torch.save`` cannot make.
def op_global(module: str, name: str) -> bytes:
    return b'c' + module.encode() + b'\n' + name.encode() + b'\n'


def op_str(text: str) -> bytes:
    data = text.encode()
    return b'X' + len(data).to_bytes(4, 'little') + data


def op_int(n: int) -> bytes:
    return b'J' + n.to_bytes(4, 'little', signed=True)


def op_bytes(data: bytes) -> bytes:
    """``_codecs.encode(text, 'latin1')``, as protocol 2 pickles bytes."""
    return (op_global('_codecs', 'encode') + b'(' +
            op_str(data.decode('latin1')) + op_str('latin1') + b'tR')


def op_tuple(*items: bytes) -> bytes:
    return b'(' + b''.join(items) + b't'


def raw_checkpoint(path: str, body: bytes) -> str:
    """A torch zip checkpoint whose pickle is ``body``."""
    import io
    import zipfile
    buffer = io.BytesIO()
    torch.save({'x': 1}, buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as out:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.endswith('/data.pkl'):
                data = b'\x80\x02' + body + b'.'
            out.writestr(item.filename, data)
    return path
