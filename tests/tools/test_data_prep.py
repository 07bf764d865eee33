"""``tools/data_prep.py`` on tiny data: idx files that mmpretrain reads
back, seeded splits, Fashion-MNIST from gzipped files, errors that name
the file. No network."""
import gzip
import os.path as osp
import sys

import mmpretrain.datasets
import numpy as np
import pytest
from mmpretrain.datasets import MNIST
from mmpretrain.datasets.mnist import read_image_file, read_label_file

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.append(osp.join(ROOT, 'tools'))
import data_prep  # noqa: E402

IMAGES, LABELS, TEST_IMAGES, TEST_LABELS = data_prep.FILES


def _arrays(seed: int = 0, count: int = 6):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (count, 28, 28), dtype=np.uint8),
            rng.integers(0, 10, count, dtype=np.uint8))


def _read(root: str):
    """The four files of ``root`` through mmpretrain's own readers."""
    return [
        read(osp.join(root, name)).numpy()
        for read, name in zip((read_image_file, read_label_file) *
                              2, data_prep.FILES)
    ]


def test_idx_files_read_back_equal(tmp_path):
    images, labels = _arrays()
    data_prep.write_idx(str(tmp_path / IMAGES), images)
    data_prep.write_idx(str(tmp_path / LABELS), labels)
    assert np.array_equal(read_image_file(str(tmp_path / IMAGES)), images)
    assert np.array_equal(read_label_file(str(tmp_path / LABELS)), labels)


@pytest.mark.parametrize(
    'array', [np.zeros((2, 3, 3), np.float32),
              np.zeros((2, 3), np.uint8)])
def test_write_idx_names_the_file_it_refuses(tmp_path, array):
    path = str(tmp_path / 'bad-idx3-ubyte')
    with pytest.raises(ValueError, match='bad-idx3-ubyte'):
        data_prep.write_idx(path, array)
    assert not osp.exists(path)


# mmpretrain's MNIST reader, under numpy 2.
@pytest.mark.filterwarnings('ignore::DeprecationWarning')
def test_digits_split_is_the_seeds(tmp_path):
    roots = {
        name:
        data_prep.prepare_sklearn_digits(str(tmp_path / name), seed=seed)
        for name, seed in (('a', 0), ('b', 0), ('c', 1))
    }
    a, b, c = (_read(roots[n]) for n in 'abc')
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[3], c[3])
    train_images, train_labels, test_images, test_labels = a
    assert train_images.shape == (1437, 28, 28)
    assert test_images.shape == (360, 28, 28)
    assert len(train_labels) == 1437 and len(test_labels) == 360
    # A split: every digit exactly once, on one side or the other.
    _, every_label = data_prep.sklearn_digits()
    assert np.array_equal(
        np.sort(np.concatenate([train_labels, test_labels])),
        np.sort(every_label))
    test = MNIST(data_root=roots['a'], test_mode=True, download=False)
    assert len(test) == 360 and test.get_gt_labels().max() == 9


def test_a_ready_folder_is_kept(tmp_path):
    root = str(tmp_path / 'digits')
    data_prep.write_split(root, *_arrays(count=10), num_test=4, seed=0)
    before = _read(root)
    assert data_prep.prepare_sklearn_digits(root, seed=3) == root
    assert all(np.array_equal(x, y) for x, y in zip(before, _read(root)))
    assert before[2].shape == (4, 28, 28) and before[0].shape == (6, 28, 28)


@pytest.mark.parametrize('count, labels, num_test', [(6, 5, 2), (6, 6, 0),
                                                     (6, 6, 6)])
def test_bad_split_names_the_folder(tmp_path, count, labels, num_test):
    images, _ = _arrays(count=count)
    root = str(tmp_path / 'target')
    with pytest.raises(ValueError, match='target'):
        data_prep.write_split(root, images, np.zeros(labels, np.uint8),
                              num_test, 0)


def _fake_fashion_mnist(folder) -> list:
    """Tiny gzipped Fashion-MNIST files in ``folder``; their arrays."""
    folder.mkdir()
    arrays = [*_arrays(1, 6), *_arrays(2, 3)]
    for name, array in zip(data_prep.FILES, arrays):
        plain = str(folder / name)
        data_prep.write_idx(plain, array)
        with open(plain, 'rb') as f, gzip.open(plain + '.gz', 'wb') as gz:
            gz.write(f.read())
    return arrays


@pytest.fixture
def offline(monkeypatch):
    """No Debian package and no download."""

    class NoDownload:

        def __init__(self, *args, **kwargs):
            raise OSError('no network in tests')

    monkeypatch.setattr(data_prep, '_debian_dirs', lambda: [])
    monkeypatch.setattr(mmpretrain.datasets, 'FashionMNIST', NoDownload)


def test_fashion_mnist_from_gzipped_files(tmp_path, offline):
    arrays = _fake_fashion_mnist(tmp_path / 'gz')
    root, gz = str(tmp_path / 'data'), str(tmp_path / 'gz')
    assert data_prep.prepare_fashion_mnist(root, search=[gz]) == gz
    assert all(np.array_equal(x, y) for x, y in zip(_read(root), arrays))
    assert data_prep.prepare_fashion_mnist(root) == root  # now ready


def test_fashion_mnist_not_found_says_how_to_get_it(tmp_path, offline):
    root = str(tmp_path / 'empty')
    with pytest.raises(FileNotFoundError) as err:
        data_prep.prepare_fashion_mnist(root, search=[str(tmp_path)])
    assert root in str(err.value) and 'dataset-fashion-mnist' in str(err.value)
    assert 'no network in tests' in str(err.value)


def test_a_corrupt_gz_file_is_named(tmp_path, offline):
    _fake_fashion_mnist(tmp_path / 'gz')
    bad = tmp_path / 'gz' / (TEST_IMAGES + '.gz')
    bad.write_bytes(b'not gzip data')
    root = str(tmp_path / 'data')
    with pytest.raises(ValueError, match=TEST_IMAGES + '.gz'):
        data_prep.prepare_fashion_mnist(root, search=[str(tmp_path / 'gz')])
    assert not osp.exists(osp.join(root, TEST_IMAGES))
