#!/usr/bin/env bash
# Set everything up on a fresh machine and run the Fashion-MNIST quickstart:
# ancestry -> templates -> WaveInit + ScalerInitHook targets -> table.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/setup_env.sh
bash tools/setup_data.sh
exec .venv/bin/python tools/quickstart.py "$@"
