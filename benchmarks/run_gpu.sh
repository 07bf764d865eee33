#!/usr/bin/env bash
# The compose and stage-1 step benchmarks on one GPU: results.json,
# summary.md and run.log in OUT_DIR (about 6 minutes on an H100).
#
#   bash benchmarks/run_gpu.sh OUT_DIR
#
# Each step runs in its own process under `timeout`, so a failure or a hang
# costs only that step; a step that fails is listed as missing in
# summary.md. Environment: PYTHON (default python3), ITERS, WARMUP, BATCH,
# DEVICE (default cuda), and COMPOSE_ARGS / STEP_ARGS appended to every
# compose_speed / distill_step call (the last value of an option wins), e.g.
# a CPU smoke test: DEVICE=cpu STEP_ARGS='--arch deit-tiny --img-size 32
# --batch 2 --warmup 1 --iters 1 --fwd-gflop 0' (0: analytic FLOPs)
# COMPOSE_ARGS='--arch deit-tiny --iters 1'.
set -u
DIR=${1:?usage: bash benchmarks/run_gpu.sh OUT_DIR}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
ITERS=${ITERS:-20}
WARMUP=${WARMUP:-5}
BATCH=${BATCH:-128}
DEVICE=${DEVICE:-cuda}
COMPOSE_ARGS=${COMPOSE_ARGS:-}
STEP_ARGS=${STEP_ARGS:-}
RAW=$(mktemp -d)
mkdir -p "$DIR"
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$ROOT PYTHONUNBUFFERED=1
export PYTHONWARNINGS=ignore
LOG="$DIR/run.log"
: > "$LOG"
cd "$ROOT" || exit 1

# step NAME LIMIT_S COMMAND...: run COMMAND for at most LIMIT_S seconds
# (compiling ViT-B takes about a minute per variant).
step() {
  local name=$1 limit=$2; shift 2
  echo "### $name (limit ${limit}s): $*" | tee -a "$LOG"
  local t0=$(date +%s)
  timeout -k 10 "$limit" "$@" >> "$LOG" 2>&1
  local rc=$?
  echo "### $name: exit $rc after $(( $(date +%s) - t0 ))s" | tee -a "$LOG"
}

{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv \
    || echo 'no nvidia-smi'
  "$PY" -c 'import torch, sys; print(sys.version.split()[0], torch.__version__, torch.version.cuda)'
} >> "$LOG" 2>&1

# Word splitting of these strings is intended.
COMPOSE="$PY benchmarks/compose_speed.py --device $DEVICE"
# One worker process per call (--pairs 1); the interleaved KD/WAVE pairs and
# their ratio: distill_step.py --pairs 3 (docs/benchmarks/distill_step.md).
STEP="$PY benchmarks/distill_step.py --device $DEVICE --batch $BATCH \
  --warmup $WARMUP --iters $ITERS --fwd-gflop 35.16 --pairs 1"

step compose-eager 120 $COMPOSE $COMPOSE_ARGS --out "$RAW/compose_eager.json"
for v in kd-eager wave-eager wave-compile kd-compile; do
  limit=90; [[ $v == *compile ]] && limit=180
  step "$v" $limit $STEP --variants "$v" $STEP_ARGS --out "$RAW/step_$v.json"
done
# bf16 only: each case and dtype is one more compilation.
step compose-compiled 120 $COMPOSE --paths compiled --scopes blocks \
  --dtypes bf16 $COMPOSE_ARGS --out "$RAW/compose_compiled.json"
# Fused AdamW (one kernel for all parameters of a dtype).
step wave-compile-fused 150 $STEP --variants wave-compile --fused-adamw \
  $STEP_ARGS --out "$RAW/step_wave-compile-fused.json"

"$PY" benchmarks/summarize.py "$DIR" "$RAW"/compose_eager.json \
  "$RAW"/step_kd-eager.json "$RAW"/step_wave-eager.json \
  "$RAW"/step_wave-compile.json "$RAW"/step_kd-compile.json \
  "$RAW"/compose_compiled.json "$RAW"/step_wave-compile-fused.json \
  2>&1 | tee -a "$LOG"
rm -rf "$RAW"
