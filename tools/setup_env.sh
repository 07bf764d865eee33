#!/usr/bin/env bash
# Create .venv (once) and install wave_mm with its pinned stack into it.
# Usage: source tools/setup_env.sh [extras]   e.g. `tests`
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
extras="${1:-}"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip 'setuptools<81' wheel
spec="."
[ -n "$extras" ] && spec=".[${extras}]"
.venv/bin/python -m pip install -q -e "$spec"
.venv/bin/python -c 'import wave_mm, torch, mmpretrain; print(
    f"wave_mm {wave_mm.__version__}, torch {torch.__version__}, "
    f"mmpretrain {mmpretrain.__version__}")'
