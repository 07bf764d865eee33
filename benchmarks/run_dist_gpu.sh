#!/usr/bin/env bash
# The scale-out benchmark on one machine of 4 GPUs: benchmarks/dist_scaling.py
# (stage 1 on 1, 2 and 4 GPUs through tools/dist_train.sh, ScalerInitHook on
# 4, the FSDP ViT-L config on 2); dist_scaling.json, its log and gpus.txt in
# OUT_DIR, every case's config and logs in OUT_DIR/work.
#
#   bash benchmarks/run_dist_gpu.sh OUT_DIR
#   CASES=stage1_kd bash benchmarks/run_dist_gpu.sh OUT_DIR  # plain-KD student
#
# Environment: PYTHON (default python3), GPUS (default "1 2 4"), CASES
# (default "stage1 stage2 fsdp"), WORK (default OUT_DIR/work); more
# dist_scaling.py arguments after OUT_DIR, e.g. --repeats 3.
set -u
DIR=${1:?usage: bash benchmarks/run_dist_gpu.sh OUT_DIR [ARGS]}
shift
PY=${PYTHON:-python3}
mkdir -p "$DIR"
WORK=${WORK:-$(cd "$DIR" && pwd)/work}
cd "$(dirname "$0")/.." || exit 1
export PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore
nvidia-smi -L > "$DIR/gpus.txt" 2>&1
# shellcheck disable=SC2086  # GPUS and CASES are lists of words
"$PY" benchmarks/dist_scaling.py --gpus ${GPUS:-1 2 4} \
    --cases ${CASES:-stage1 stage2 fsdp} --work-dir "$WORK" \
    --out "$DIR/dist_scaling.json" "$@" 2>&1 | tee "$DIR/dist_scaling.log"
exit "${PIPESTATUS[0]}"
