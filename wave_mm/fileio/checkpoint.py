"""Reading and writing PyTorch checkpoints without ever running their code.

Every ``torch.load`` in wave_mm goes through :func:`load_checkpoint`, which
passes ``weights_only=True`` itself (so no environment variable can turn the
check off) and turns every failure into a :class:`TemplatesFileError` that
names the file. :func:`register_mmengine_loaders` makes MMEngine's own loads
(``load_from``, ``--resume``, ``init_cfg=Pretrained``, a teacher's
checkpoint) use it too.
"""
import io
import os.path as osp
import pickle
import re
from typing import Any, Dict, Mapping, Optional

import torch
from torch import Tensor

from .atomic import atomic_write
from .errors import TemplatesFileError
from .numpy_pickle import materialise

_SCHEME = re.compile(r'^[A-Za-z][\w+.-]*:(\S+:)?//')
_REASON = re.compile(r'WeightsUnpickler error:\s*(.*?)(?:\s+Please\b|\n|$)',
                     re.S)


def load_checkpoint(path: str, map_location: Any = 'cpu') -> Any:
    """``torch.load(path, weights_only=True)`` with errors that name ``path``.

    ``path`` may also be a URL or another MMEngine scheme
    (``s3://...``), read through MMEngine's loaders as
    :func:`register_mmengine_loaders` sets them.

    Raises:
        TemplatesFileError: ``path`` is missing, is not a PyTorch
            checkpoint, is truncated, or pickles objects outside the
            allow-list (which are never constructed).
    """
    if not isinstance(path, str):
        raise TemplatesFileError(f'a checkpoint path must be text, got '
                                 f'{type(path).__name__}')
    if _SCHEME.match(path):
        from mmengine.runner.checkpoint import CheckpointLoader
        register_mmengine_loaders()
        loader = CheckpointLoader._get_checkpoint_loader(path)
        if loader is not _load_local:
            return _remote(loader, path, map_location)
    if not osp.isfile(path):
        raise TemplatesFileError(f'checkpoint not found: {path}')
    return _load(path, path, map_location)


def load_checkpoint_bytes(data: bytes,
                          name: str,
                          map_location: Any = 'cpu') -> Any:
    """:func:`load_checkpoint` of a checkpoint's bytes, read from ``name``."""
    return _load(io.BytesIO(data), name, map_location)


def _load(f: Any, name: str, map_location: Any) -> Any:
    try:
        return materialise(
            torch.load(f, map_location=map_location, weights_only=True))
    except pickle.UnpicklingError as err:
        raise TemplatesFileError(
            f'{name}: refused to load: {_unpickling_reason(err)}. Pickled '
            'code is never run; only tensors, containers and the objects '
            'MMEngine checkpoints need are allowed') from None
    except Exception as err:  # hostile bytes can raise anything
        raise TemplatesFileError(
            f'{name}: not a readable PyTorch checkpoint (truncated or '
            f'corrupt): {type(err).__name__}: {_first_line(err)}') from None


def save_checkpoint(path: str, checkpoint: Any, inputs=()) -> None:
    """``torch.save`` through the atomic writer (see :func:`atomic_write`)."""
    atomic_write(path, lambda f: torch.save(checkpoint, f), inputs)


def state_dict_of(checkpoint: Any, path: str) -> Dict[str, Tensor]:
    """The state dict of a loaded checkpoint: its ``state_dict`` entry, or
    the checkpoint itself when it is a plain dict of tensors.

    Raises:
        TemplatesFileError: It is not a dict, or a key is not a string or a
            value not a tensor; the message names the key.
    """
    if not isinstance(checkpoint, Mapping):
        raise TemplatesFileError(f'{path}: a checkpoint must be a dict, got '
                                 f'{type(checkpoint).__name__}')
    state = checkpoint.get('state_dict', checkpoint)
    where = "['state_dict']" if 'state_dict' in checkpoint else ''
    if not isinstance(state, Mapping):
        raise TemplatesFileError(
            f"{path}: {where or 'the checkpoint'} must be a dict of tensors, "
            f'got {type(state).__name__}')
    for key, value in state.items():
        if not isinstance(key, str):
            raise TemplatesFileError(
                f'{path}: state dict key {key!r} is not a string')
        if not isinstance(value, Tensor):
            raise TemplatesFileError(
                f'{path}: {where}[{key!r}] is a {type(value).__name__}, not '
                'a tensor' +
                ('' if where else " (and there is no 'state_dict' entry)"))
    return dict(state)


def meta_of(checkpoint: Mapping, path: str) -> Dict[str, Any]:
    """A checkpoint's ``meta`` dict (empty if it has none)."""
    meta = checkpoint.get('meta', {})
    if not isinstance(meta, Mapping):
        raise TemplatesFileError(f"{path}: ['meta'] must be a dict, got "
                                 f'{type(meta).__name__}')
    return dict(meta)


def _unpickling_reason(err: Exception) -> str:
    """What torch refused, without its advice to turn the check off."""
    text = str(err)
    found = _REASON.search(text)
    reason = found.group(1).strip() if found else _first_line(err)
    if 'weights_only' in reason:
        reason = 'it pickles objects outside the allow-list'
    return reason.rstrip('.')


def _first_line(err: Exception) -> str:
    lines = [
        line for line in str(err).splitlines()
        if line.strip() and 'weights_only' not in line
    ]
    return lines[0].strip()[:300] if lines else type(err).__name__


def register_mmengine_loaders() -> None:
    """Route MMEngine's checkpoint loads through :func:`load_checkpoint`.

    Local files and URLs (``http(s)://`` and the ``torchvision://``,
    ``open-mmlab://`` and ``mmcls://`` names MMEngine resolves to URLs; its
    own URL loader passes ``weights_only=False``) load with
    ``weights_only=True``; ``s3://`` and ``petrel://`` bytes pass the same
    check. The pavi scheme is refused.
    """
    from mmengine.runner import checkpoint as mmengine_checkpoint
    loader = mmengine_checkpoint.CheckpointLoader
    loader.register_scheme('', _load_local, force=True)
    loader.register_scheme([r'(\S+\:)?s3://', r'(\S+\:)?petrel://'],
                           _load_backend,
                           force=True)
    loader.register_scheme('pavi://', _refuse, force=True)
    # load_from_http (and every scheme built on it) calls this name.
    mmengine_checkpoint.load_url = _load_url
    # Its local branch calls torch.load itself: only URLs are followed.
    local = mmengine_checkpoint.load_from_openmmlab

    def load_openmmlab(filename: str, map_location: Any = None) -> Any:
        name = filename.split('://', 1)[1]
        url = mmengine_checkpoint.get_external_models().get(name)
        if url is not None and not url.startswith(('http://', 'https://')):
            return load_checkpoint(
                osp.join(mmengine_checkpoint._get_mmengine_home(), url),
                map_location)
        return local(filename, map_location)

    loader.register_scheme(('open-mmlab://', 'openmmlab://'),
                           load_openmmlab,
                           force=True)


def _remote(loader: Any, path: str, map_location: Any) -> Any:
    """A load through one of MMEngine's remote schemes, errors wrapped."""
    try:
        return loader(path, map_location)
    except TemplatesFileError:
        raise
    except Exception as err:  # a download or backend failed
        raise TemplatesFileError(
            f'{path}: could not be loaded ({type(err).__name__}: '
            f'{_first_line(err)})') from None


def _load_local(filename: str, map_location: Optional[Any] = None) -> Any:
    return load_checkpoint(osp.expanduser(filename), map_location)


def _load_url(url: str,
              model_dir: Optional[str] = None,
              map_location: Optional[Any] = None,
              **kwargs) -> Any:
    from torch.hub import load_state_dict_from_url
    try:
        return materialise(
            load_state_dict_from_url(
                url,
                model_dir=model_dir,
                map_location=map_location,
                progress=kwargs.get('progress', True),
                weights_only=True))
    except pickle.UnpicklingError as err:
        raise TemplatesFileError(
            f'{url}: refused to load: {_unpickling_reason(err)}') from None
    except Exception as err:  # a failed download or a corrupt file
        raise TemplatesFileError(
            f'{url}: could not be loaded ({type(err).__name__}: '
            f'{_first_line(err)})') from None


def _load_backend(filename: str, map_location: Optional[Any] = None) -> Any:
    from mmengine.fileio import get
    return load_checkpoint_bytes(get(filename), filename, map_location)


def _refuse(filename: str, map_location: Optional[Any] = None) -> Any:
    raise TemplatesFileError(
        f'{filename}: pavi checkpoints are not loaded; download the file '
        'and pass its local path')
