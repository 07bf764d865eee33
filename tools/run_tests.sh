#!/usr/bin/env bash
# Set everything up on a fresh machine, run the test suite (the default
# tests, then the slow ones: several processes, the Triton interpreter),
# then the init benchmark's CPU quick mode as a smoke test (about a minute
# on 2 cores). Arguments go to both pytest calls.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/setup_env.sh tests
bash tools/setup_data.sh  # the quick mode below reads Fashion-MNIST
# pytest exits 5 when it collects no test (e.g. a -k that selects none of
# one half): not a failure here.
run_pytest() {
    local rc=0
    .venv/bin/python -m pytest "$@" || rc=$?
    [ "$rc" -eq 0 ] || [ "$rc" -eq 5 ] || exit "$rc"
}
run_pytest -q "$@"
run_pytest -q "$@" -m slow
smoke=$(mktemp -d)
trap 'rm -rf "$smoke"' EXIT
.venv/bin/python benchmarks/init_quality/run.py --mode quick \
    --work-dir "$smoke" > "$smoke/run.log" 2>&1 \
    || { tail -60 "$smoke/run.log"; exit 1; }
grep -A4 "^## Verdicts" "$smoke/run.log"
echo "init benchmark quick mode: OK"
