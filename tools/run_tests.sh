#!/usr/bin/env bash
# Set everything up on a fresh machine and run the test suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/setup_env.sh tests
exec .venv/bin/python -m pytest -q "$@"
