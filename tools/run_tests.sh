#!/usr/bin/env bash
# Set everything up on a fresh machine, run the test suite, then the init
# benchmark's CPU quick mode as a smoke test (about a minute on 2 cores).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/setup_env.sh tests
.venv/bin/python -m pytest -q "$@"
smoke=$(mktemp -d)
trap 'rm -rf "$smoke"' EXIT
.venv/bin/python benchmarks/init_quality/run.py --mode quick \
    --work-dir "$smoke" > "$smoke/run.log" 2>&1 \
    || { tail -60 "$smoke/run.log"; exit 1; }
grep -A4 "^## Verdicts" "$smoke/run.log"
echo "init benchmark quick mode: OK"
