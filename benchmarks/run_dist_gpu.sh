#!/usr/bin/env bash
# Issue 6 on one 4-GPU machine, within 10 minutes: the fused-compose check,
# then benchmarks/dist_scaling.py (stage 1 on 1, 2 and 4 GPUs through
# tools/dist_train.sh, ScalerInitHook on 4, the FSDP ViT-L config on 2).
#
#   PYTHONPATH=/tmp/site:$PWD bash benchmarks/run_dist_gpu.sh "$OUT"
set -u
DIR=${1:?give an output directory}
PY=${PYTHON:-python3}
cd "$(dirname "$0")/.." || exit 1
mkdir -p "$DIR"
export PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore
nvidia-smi -L > "$DIR/gpus.txt" 2>&1
timeout 120 "$PY" benchmarks/check_fused.py > "$DIR/check_fused.txt" 2>&1
echo "exit $?" >> "$DIR/check_fused.txt"
timeout 440 "$PY" benchmarks/dist_scaling.py --gpus 1 2 4 \
    --work-dir /tmp/dist_scaling --out "$DIR/dist_scaling.json" \
    > "$DIR/dist_scaling.log" 2>&1
echo "dist_scaling exit $?"
tail -12 "$DIR/dist_scaling.log"
