"""The atomic writer: a failed, killed or concurrent write never leaves a
partial file at the target, and never a temporary file for long."""
import errno
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import wave_mm.fileio.atomic as atomic
from wave_mm.fileio import atomic_write, check_not_input, temporary_files

OLD = b'old contents\n' * 100


@pytest.fixture
def target(tmp_path):
    path = str(tmp_path / 'out.bin')
    atomic_write(path, OLD)
    return path


def _left(path):
    return temporary_files(path)


def test_bytes_and_writer_round_trip(tmp_path):
    path = str(tmp_path / 'sub' / 'a.bin')
    atomic_write(path, b'abc')
    assert open(path, 'rb').read() == b'abc'
    atomic_write(path, lambda f: f.write(b'def'))
    assert open(path, 'rb').read() == b'def'
    assert os.listdir(tmp_path / 'sub') == ['a.bin']


def test_permissions_follow_the_umask(tmp_path):
    path = str(tmp_path / 'a.bin')
    old = os.umask(0o027)
    try:
        atomic_write(path, b'x')
    finally:
        os.umask(old)
    assert os.stat(path).st_mode & 0o777 == 0o640


def test_exception_mid_write_keeps_the_old_file(target):

    def half_then_fail(f):
        f.write(b'new' * 1000)
        raise RuntimeError('writer failed')

    with pytest.raises(RuntimeError, match='writer failed'):
        atomic_write(target, half_then_fail)
    assert open(target, 'rb').read() == OLD
    assert _left(target) == []


def test_interrupt_mid_write_keeps_the_old_file(target):

    def interrupted(f):
        f.write(b'new')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, interrupted)
    assert open(target, 'rb').read() == OLD
    assert _left(target) == []


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KiB tmpfs where mounting is allowed (root), else None."""
    mount = tmp_path / 'disk'
    mount.mkdir()
    done = subprocess.run(
        ['mount', '-t', 'tmpfs', '-o', 'size=64k', 'tmpfs',
         str(mount)],
        capture_output=True)
    if done.returncode != 0:
        yield None
        return
    try:
        yield str(mount)
    finally:
        subprocess.run(['umount', str(mount)], check=False)


@pytest.mark.parametrize('disk', ['tmpfs', 'fake'])
def test_full_disk_keeps_the_old_file(disk, small_disk, tmp_path, monkeypatch):
    if disk == 'tmpfs' and small_disk is not None:
        path = os.path.join(small_disk, 'out.bin')
        atomic_write(path, OLD)
        big = b'x' * (1 << 20)  # far more than the disk holds
    else:  # no mount allowed: a disk that fills up after 4 KiB
        path = str(tmp_path / 'out.bin')
        atomic_write(path, OLD)
        written, real_write = [0], os.write

        def write(fd, data):
            written[0] += len(data)
            if written[0] > 4096:
                raise OSError(errno.ENOSPC, 'No space left on device')
            return real_write(fd, data)

        monkeypatch.setattr(os, 'write', write)

        def big(f):
            for _ in range(1024):
                os.write(f.fileno(), b'x' * 1024)

    with pytest.raises(OSError, match=r'could not write .*out\.bin') as err:
        atomic_write(path, big)
    assert err.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert open(path, 'rb').read() == OLD
    assert _left(path) == []


_SLOW_WRITER = '''
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location('atomic', sys.argv[1])
atomic = importlib.util.module_from_spec(spec)
spec.loader.exec_module(atomic)

def slow(f):
    for _ in range(10000):
        f.write(b'n' * 1024)
        f.flush()
        time.sleep(0.001)

atomic.atomic_write(sys.argv[2], slow)
'''


def test_kill_9_mid_write_keeps_the_old_file(target):
    proc = subprocess.Popen(
        [sys.executable, '-c', _SLOW_WRITER, atomic.__file__, target])
    try:
        deadline = time.time() + 30
        while not _left(target) and time.time() < deadline:
            time.sleep(0.01)
        assert _left(target), 'the writer never started'
        time.sleep(0.1)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert open(target, 'rb').read() == OLD
    # The killed writer's temporary file goes with the next write.
    assert len(_left(target)) == 1
    atomic_write(target, b'next')
    assert open(target, 'rb').read() == b'next'
    assert _left(target) == []


def _versions():
    return [bytes([65 + i]) * (200_000 + i) for i in range(4)]


def _watch(path, stop, seen):
    """Read ``path`` until ``stop``; every read must be a whole version."""
    versions = set(_versions()) | {OLD}
    while not stop.is_set():
        data = open(path, 'rb').read()
        if data not in versions:
            seen.append(len(data))


def test_two_threads_writing_at_once(target):
    stop, bad = threading.Event(), []
    reader = threading.Thread(target=_watch, args=(target, stop, bad))
    reader.start()

    def write(version):
        for _ in range(20):
            atomic_write(target, version)

    writers = [
        threading.Thread(target=write, args=(v, )) for v in _versions()[:2]
    ]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    reader.join()
    assert bad == [], f'partial files of {bad[:5]} bytes were seen'
    assert open(target, 'rb').read() in _versions()[:2]
    assert _left(target) == []


def _write_many(path, version):
    for _ in range(20):
        atomic_write(path, version)


def test_two_processes_writing_at_once(target):
    stop, bad = threading.Event(), []
    reader = threading.Thread(target=_watch, args=(target, stop, bad))
    reader.start()
    context = multiprocessing.get_context('fork')
    procs = [
        context.Process(target=_write_many, args=(target, v))
        for v in _versions()[2:]
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    stop.set()
    reader.join()
    assert [p.exitcode for p in procs] == [0, 0]
    assert bad == [], f'partial files of {bad[:5]} bytes were seen'
    assert open(target, 'rb').read() in _versions()[2:]
    assert _left(target) == []


def test_refuses_to_overwrite_an_input(target, tmp_path):
    with pytest.raises(ValueError, match='is the input'):
        atomic_write(target, b'x', inputs=[target])
    link = str(tmp_path / 'link.bin')
    os.symlink(target, link)
    with pytest.raises(ValueError, match='is the input'):
        atomic_write(link, b'x', inputs=[target])
    hard = str(tmp_path / 'hard.bin')
    os.link(target, hard)
    with pytest.raises(ValueError, match='is the input'):
        check_not_input(hard, [target])
    assert open(target, 'rb').read() == OLD
    check_not_input(str(tmp_path / 'other.bin'), [target, None])


def test_longest_legal_file_name(tmp_path):
    path = str(tmp_path / ('n' * 255))
    atomic_write(path, b'x')
    assert open(path, 'rb').read() == b'x'
    assert _left(path) == []


def test_directory_target_is_refused(tmp_path):
    with pytest.raises(ValueError, match='is a directory'):
        atomic_write(str(tmp_path), b'x')


def test_unique_temporary_names(tmp_path):
    path = str(tmp_path / 'a.bin')
    names = set()
    for _ in range(50):
        name, fd = atomic._create_temporary(path)
        os.close(fd)
        names.add(name)
    assert len(names) == 50
    assert sorted(names) == _left(path)


def test_a_private_file_stays_private(tmp_path):
    path = str(tmp_path / 'secret.bin')
    atomic_write(path, b'x')
    os.chmod(path, 0o600)
    atomic_write(path, b'y')
    assert os.stat(path).st_mode & 0o777 == 0o600
