#!/usr/bin/env bash
# Install the Fashion-MNIST data (Debian package dataset-fashion-mnist) when
# neither the prepared idx files nor the package's files are there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -f data/fashion_mnist/train-images-idx3-ubyte ] \
        && [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] \
        && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist
fi
