"""The one way wave_mm writes a file: atomically, never over an input.

A reader of ``path`` sees the old file or the whole new one, never a part:
the bytes go to a unique temporary file in the same directory, are flushed
to disk (``fsync``) and then renamed over ``path`` (``os.replace``). On any
failure (an exception, a full disk) the temporary file is removed and
``path`` is untouched. A process killed mid-write leaves its temporary file
behind; the next write to the same ``path`` removes it once its writer is
gone. Permission bits are those of the file replaced; a new file's follow
the umask, as with ``open(path, 'w')``.
"""
import errno
import os
import os.path as osp
import secrets
import stat
from typing import BinaryIO, Callable, Iterable, Union

#: Bytes, or a function that writes them into a binary file object.
Content = Union[bytes, Callable[[BinaryIO], None]]

_SUFFIX = '.wave-tmp'
# Short enough that any legal target name still has a legal temporary name.
_STEM = 32


def atomic_write(path: str, content: Content,
                 inputs: Iterable[str] = ()) -> None:
    """Write ``content`` to ``path`` atomically.

    Args:
        path: The file to (re)place; its directory is created if missing.
        content: The bytes, or ``write(f)`` called with the open temporary
            file (``torch.save``, ``json.dump``, ``savefig`` all take one).
        inputs: Files this output is made from: writing over one of them is
            refused, since a failed write would lose it.

    Raises:
        ValueError: ``path`` is one of ``inputs`` or a directory.
        OSError: The file could not be written (full disk, permissions);
            the message names ``path``, and ``path`` is unchanged.
    """
    check_not_input(path, inputs)
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    if osp.isdir(path):
        raise ValueError(f'cannot write {path}: it is a directory')
    _sweep_orphans(path)
    tmp, fd = _create_temporary(path)
    try:
        if osp.exists(path):  # a private file stays private
            os.fchmod(fd, stat.S_IMODE(os.stat(path).st_mode))
        with os.fdopen(fd, 'wb') as f:
            if isinstance(content, (bytes, bytearray, memoryview)):
                f.write(content)
            else:
                content(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        _remove(tmp)
        if isinstance(err, OSError) and not isinstance(err, FileExistsError):
            raise OSError(
                err.errno,
                f'could not write {path}: {err.strerror or err}') from err
        raise
    _fsync_directory(directory)


def check_not_input(path: str, inputs: Iterable[str]) -> None:
    """Refuse an output ``path`` that is the same file as an input."""
    for source in inputs:
        if source is None:
            continue
        same = (
            osp.samefile(path, source)
            if osp.exists(path) and osp.exists(source) else osp.realpath(path)
            == osp.realpath(source))
        if same:
            raise ValueError(f'refusing to write {path}: it is the input '
                             f'{source}; choose another output path')


def temporary_files(path: str) -> list:
    """The temporary files of writes to ``path`` that are still on disk."""
    directory = osp.dirname(osp.abspath(path))
    prefix = _prefix(path)
    return sorted(
        osp.join(directory, name) for name in os.listdir(directory)
        if name.startswith(prefix) and name.endswith(_SUFFIX))


def _prefix(path: str) -> str:
    return f'.{osp.basename(path)[:_STEM]}.'


def _create_temporary(path: str):
    directory = osp.dirname(osp.abspath(path))
    while True:
        name = f'{_prefix(path)}{os.getpid()}.{secrets.token_hex(4)}{_SUFFIX}'
        tmp = osp.join(directory, name)
        try:
            # 0o666 & ~umask, like open(): mkstemp would make it 0600.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        return tmp, fd


def _sweep_orphans(path: str) -> None:
    """Remove temporary files whose writing process no longer exists."""
    for tmp in temporary_files(path):
        pid = osp.basename(tmp)[len(_prefix(path)):].split('.')[0]
        if pid.isdigit() and not _alive(int(pid)):
            _remove(tmp)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable where the platform allows it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as err:
        if err.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)
