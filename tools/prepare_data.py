"""Put Fashion-MNIST where the quickstart configs read it.

    python tools/prepare_data.py [--data-root data/fashion_mnist]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from data_prep import prepare_fashion_mnist  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default='data/fashion_mnist')
    args = parser.parse_args()
    source = prepare_fashion_mnist(args.data_root)
    print(f'Fashion-MNIST ready in {args.data_root} (from {source})')


if __name__ == '__main__':
    main()
