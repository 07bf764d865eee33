#!/usr/bin/env bash
# Issue 6 on one 4-GPU machine, within 10 minutes a call:
# benchmarks/dist_scaling.py (stage 1 on 1, 2 and 4 GPUs through
# tools/dist_train.sh, ScalerInitHook on 4, the FSDP ViT-L config on 2), its
# logs packed into $1/logs.tgz. Each case starts in about a minute, so the
# plain-KD comparison takes a second call:
#
#   PYTHONPATH=/tmp/site:$PWD bash benchmarks/run_dist_gpu.sh "$OUT"
#   CASES=stage1_kd PYTHONPATH=/tmp/site:$PWD \
#       bash benchmarks/run_dist_gpu.sh "$OUT"
set -u
DIR=${1:?give an output directory}
PY=${PYTHON:-python3}
WORK=${WORK:-/tmp/dist_scaling}
cd "$(dirname "$0")/.." || exit 1
mkdir -p "$DIR"
export PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore
nvidia-smi -L > "$DIR/gpus.txt" 2>&1
# shellcheck disable=SC2086  # CASES is a list of words
timeout 540 "$PY" benchmarks/dist_scaling.py --gpus 1 2 4 \
    --cases ${CASES:-stage1 stage2 fsdp} \
    --work-dir "$WORK" --out "$DIR/dist_scaling.json" \
    > "$DIR/dist_scaling.log" 2>&1
echo "dist_scaling exit $?"
(cd "$WORK" && find . -name '*.log' -o -name '*.json' | tar czf "$DIR/logs.tgz" -T -)
tail -14 "$DIR/dist_scaling.log"
