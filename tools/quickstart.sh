#!/usr/bin/env bash
# Set everything up on a fresh machine and run the Fashion-MNIST quickstart:
# ancestry -> templates -> WaveInit + ScalerInitHook targets -> table.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/setup_env.sh
if [ ! -f data/fashion_mnist/train-images-idx3-ubyte ] \
        && [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] \
        && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist
fi
exec .venv/bin/python tools/quickstart.py "$@"
