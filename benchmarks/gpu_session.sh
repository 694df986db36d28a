#!/usr/bin/env bash
# Every GPU check of the project in one prepared run, for a session that is lent a GPU.
#
# A lent machine is bare and time on it is short, so this runs the checks in order of
# value, each under its own time limit, all under one budget, and keeps going when one
# fails:
#
#   1. benchmarks/vram_accuracy.py        predicted vs measured VRAM (issue 6)
#   2. benchmarks/latency_accuracy.py     naive and calibrated vs measured latency (issue 7)
#   3. tests/gpu                          the GPU-only tests (skipped on CPU machines)
#   4. roofline calibrate --gpu local     datasheet vs achieved GEMM / copy / launch
#   5. benchmarks/per_layer_method.py     which per-layer timing method adds up on CUDA
#   6. benchmarks/gpu_summary.py          summary.md: every target met or missed, by how much
#
# It needs torch, torchvision, pyyaml, tabulate and nvidia-ml-py (all in the device
# image's python3; nothing is installed and nothing is fetched: the machine reaches no
# network) and runs roofline from the working tree (PYTHONPATH). Logs and results go to
# $OUT (the device tool's folder that comes back; ./gpu-results elsewhere), 6 files (the
# device tool brings back 8 at most): summary.md (the targets, read this first),
# session.log (every step's output), latency_cuda.md and latency_cuda.json (cases and the
# fitted latency model), vram_accuracy.json and the measured ceilings
# (cache/measured/gpu-<key>.json). The benchmarks rewrite their files after every case
# through a .part file renamed into place; a step stopped inside that rename leaves its
# .part beside the last whole file (8 files at most even then). A run stopped before
# summary.md was written: `python benchmarks/gpu_summary.py DIR` on the files that came
# back writes it anywhere (it reads files only). Copy the results into docs/
# (devices.md, latency.md, vram.md, benchmarks.md) with the machine they ran on.
#
#   bash benchmarks/gpu_session.sh            # 555 s at most (BUDGET_S): run it with timeout_s 590
#   STEPS="latency vram" bash benchmarks/gpu_session.sh
#
# BUDGET_S is the whole script's watchdog: a step starts only with 10 s of it left and
# runs at most until it ends (its own limit cut to fit), so the summary is written
# before the device call's own limit; a step's limit sends SIGTERM, then SIGKILL 5 s on.
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
STEPS=${STEPS:-"vram latency tests calibrate layers"}
BUDGET_S=${BUDGET_S:-555}
# kept back from the steps for the summary at the end
SUMMARY_S=15
touch "$OUT/session.log"

step() {  # step NAME LIMIT_S COMMAND...: run, its output into the log as it comes, show its end
  local name=$1 limit=$2
  shift 2
  case " $STEPS " in *" $name "*) ;; *) return 0 ;; esac
  # the budget's watchdog: what is left of it bounds this step (SIGKILL 5 s after
  # SIGTERM, so the step ends within limit + 5)
  local left=$((BUDGET_S - SUMMARY_S - SECONDS - 5))
  if [ "$left" -lt 10 ]; then
    echo "== $name skipped: ${left} s left of the ${BUDGET_S} s budget" | tee -a "$OUT/session.log"
    return 0
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "== $name (at most ${limit} s, at ${SECONDS} s): $*" | tee -a "$OUT/session.log"
  local t0=$SECONDS start rc
  start=$(wc -c <"$OUT/session.log")
  # straight into session.log, not a temporary file appended afterwards: a device call
  # stopped inside this step (its own time limit) still brings back what the step said
  timeout -k 5 "$limit" "$@" >>"$OUT/session.log" 2>&1
  rc=$?
  echo "rc=$rc after $((SECONDS - t0)) s" >>"$OUT/session.log"
  tail -c +$((start + 1)) "$OUT/session.log" | tail -n 30
}

{
  echo "== machine"
  timeout -k 2 15 nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,power.limit \
    --format=csv 2>&1 | head -3
  timeout -k 2 60 "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())' 2>&1
} | tee -a "$OUT/session.log"

step vram 150 "$PY" benchmarks/vram_accuracy.py --out "$OUT/vram_accuracy.json"
step latency 265 "$PY" benchmarks/latency_accuracy.py --device cuda --out "$OUT/latency_cuda.md" \
  --json "$OUT/latency_cuda.json"
# -o addopts="": pyproject's -q would cancel -v (test names matter in the log)
step tests 60 "$PY" -m pytest tests/gpu -o addopts="" -v -rfEs --durations=5 -p no:cacheprovider
step calibrate 30 "$PY" -m roofline calibrate --gpu local --ceilings-only
step layers 30 "$PY" benchmarks/per_layer_method.py --device cuda --passes 3
step latency_bf16 300 "$PY" benchmarks/latency_accuracy.py --device cuda --dtype bf16 \
  --out "$OUT/latency_cuda_bf16.md" --json "$OUT/latency_cuda_bf16.json"
# the summary runs whatever STEPS says, inside the time kept back for it
timeout -k 2 "$SUMMARY_S" "$PY" benchmarks/gpu_summary.py "$OUT" 2>&1 | tee -a "$OUT/session.log"
echo "results in $OUT:"
ls -R "$OUT"
