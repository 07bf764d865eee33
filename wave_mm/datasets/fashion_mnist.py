"""Find Fashion-MNIST and put it where mmpretrain's ``FashionMNIST`` reads it.

mmpretrain reads the *un-gzipped* idx files from ``data_root``. Sources, in
order: files already in ``data_root`` (plain or gzipped), the Debian package
``dataset-fashion-mnist``, then mmpretrain's own download (needs internet).
"""
import gzip
import os
import os.path as osp
import shutil
import subprocess
from typing import List, Optional

from wave_mm.fileio import atomic_write

FILES = ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte',
         't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')
DEBIAN_PACKAGE = 'dataset-fashion-mnist'
DEBIAN_DIR = '/usr/share/datasets/fashion-mnist'


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


def _gunzip_from(src_dir: str, data_root: str) -> bool:
    sources = [osp.join(src_dir, f + '.gz') for f in FILES]
    if not all(osp.isfile(s) for s in sources):
        return False
    os.makedirs(data_root, exist_ok=True)
    for src, name in zip(sources, FILES):
        dst = osp.join(data_root, name)
        if osp.isfile(dst):
            continue
        with gzip.open(src, 'rb') as fin:
            atomic_write(dst, lambda f: shutil.copyfileobj(fin, f))
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
    if all(osp.isfile(osp.join(data_root, f)) for f in FILES):
        return data_root
    for src in [data_root] + list(search or []) + _debian_dirs():
        if _gunzip_from(src, data_root):
            return src
    try:
        from mmpretrain.datasets import FashionMNIST
        FashionMNIST(data_root=data_root, download=True, lazy_init=True) \
            .full_init()
        if all(osp.isfile(osp.join(data_root, f)) for f in FILES):
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
