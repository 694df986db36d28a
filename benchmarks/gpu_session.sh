#!/usr/bin/env bash
# Every GPU check of the project in one prepared run, for a session that is lent a GPU.
#
# A lent machine is bare and time on it is short, so this runs the checks in order of
# value, each under its own time limit, and keeps going when one fails:
#
#   1. tests/gpu                          the GPU-only tests (skipped on CPU machines)
#   2. roofline calibrate --gpu local     datasheet vs achieved GEMM / copy / launch
#   3. benchmarks/latency_accuracy.py     naive and calibrated vs measured latency
#   4. benchmarks/vram_accuracy.py        predicted vs measured VRAM
#   5. benchmarks/per_layer_method.py     which per-layer timing method adds up on CUDA
#
# It needs torch, torchvision, pyyaml, tabulate and nvidia-ml-py, and runs roofline from
# the working tree (PYTHONPATH), without installing it. Logs and results go to $OUT (the
# device tool's folder that comes back; ./gpu-results elsewhere), 5 files (the device
# tool brings back 8 at most): session.log (every step's output), latency_cuda.md and
# latency_cuda.json (cases and the fitted latency model), vram_accuracy.json and the
# measured ceilings (cache/measured/gpu-<key>.json). The benchmarks rewrite their files
# after every case through a .part file renamed into place; a step stopped inside that
# rename leaves its .part beside the last whole file (8 files at most even then).
# Copy the results into docs/ (devices.md, latency.md, vram.md, benchmarks.md) with the
# machine they ran on.
#
#   bash benchmarks/gpu_session.sh            # about 10 minutes at most
#   STEPS="calibrate latency" bash benchmarks/gpu_session.sh
#
# Not in the default list, for a second call when a session has the device time: the
# bf16 calibration and the same cases cast to bf16 (what GPUs mostly run):
#   STEPS="latency_bf16" bash benchmarks/gpu_session.sh
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-results}
mkdir -p "$OUT/cache"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 ROOFLINE_CACHE_DIR=$OUT/cache
PY=${PYTHON:-python3}
STEPS=${STEPS:-"tests calibrate latency vram layers"}

step() {  # step NAME LIMIT_S COMMAND...: run, its output into the log as it comes, show its end
  local name=$1 limit=$2
  shift 2
  case " $STEPS " in *" $name "*) ;; *) return 0 ;; esac
  echo "== $name (at most ${limit} s): $*" | tee -a "$OUT/session.log"
  local t0=$SECONDS start rc
  start=$(wc -c <"$OUT/session.log")
  # straight into session.log, not a temporary file appended afterwards: a device call
  # stopped inside this step (its own time limit) still brings back what the step said
  timeout "$limit" "$@" >>"$OUT/session.log" 2>&1
  rc=$?
  echo "rc=$rc after $((SECONDS - t0)) s" >>"$OUT/session.log"
  tail -c +$((start + 1)) "$OUT/session.log" | tail -n 30
}

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,power.limit \
  --format=csv 2>&1 | head -3
"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'

# -o addopts="": pyproject's -q would cancel -v (test names matter in a 60 s log)
step tests 70 "$PY" -m pytest tests/gpu -o addopts="" -v -rfEs --durations=5 -p no:cacheprovider
step calibrate 40 "$PY" -m roofline calibrate --gpu local --ceilings-only
step latency 245 "$PY" benchmarks/latency_accuracy.py --device cuda --out "$OUT/latency_cuda.md" \
  --json "$OUT/latency_cuda.json"
step vram 170 "$PY" benchmarks/vram_accuracy.py --out "$OUT/vram_accuracy.json"
step layers 50 "$PY" benchmarks/per_layer_method.py --device cuda --passes 3
step latency_bf16 300 "$PY" benchmarks/latency_accuracy.py --device cuda --dtype bf16 \
  --out "$OUT/latency_cuda_bf16.md" --json "$OUT/latency_cuda_bf16.json"
echo "results in $OUT:"
ls -R "$OUT"
