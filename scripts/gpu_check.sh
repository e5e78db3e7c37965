#!/usr/bin/env bash
# GPU check, expected ~5 minutes on one H100/H200 (not yet timed on one; 8 at most: each stage has a timeout):
#   1. scripts/bench_train.py's measurement (via scripts/gpu_bench.py) at three sizes (~3M, ~25M, ~85M
#      parameters), bf16 and torch.compile, MFU printed;
#   2. a 6-run grid mini-sweep (sweeps/gpu_check.yaml, synthetic source: no downloads) with --workers auto,
#      then tokens/s and MFU of every run read back from its record (scripts/sweep_throughput.py).
# Setup, once, from the repo root:  python3 -m venv .venv && .venv/bin/pip install -e .
# Run from the repo root:           bash scripts/gpu_check.sh
# CPU mode, to know it works before a GPU is lent (tiny sizes, fp32, no compile, ~1 minute):
#                                   GPU_CHECK_CPU=1 bash scripts/gpu_check.sh
# Environment: PYTHON (default .venv/bin/python, else python3), GPU_CHECK_RESULTS (default: a fresh temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi; fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" WANDB_MODE=offline
RESULTS="${GPU_CHECK_RESULTS:-$(mktemp -d -t gpu_check.XXXXXX)}"
start=$SECONDS

if [ "${GPU_CHECK_CPU:-0}" = "1" ]; then
  BENCH=(--sizes tiny --steps 3 --precision fp32); SWEEP=sweeps/gpu_check_cpu.yaml; MFU=(); LIMITS=(120 120)
else
  if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "error: no CUDA GPU visible to $PY (set GPU_CHECK_CPU=1 for the CPU mode)" >&2; exit 2
  fi
  BENCH=(--sizes gpu --steps 10 --precision bf16 --compile); SWEEP=sweeps/gpu_check.yaml; MFU=(--require-mfu)
  LIMITS=(270 200)
fi

echo "== 1/2 training throughput: scripts/gpu_bench.py ${BENCH[*]} =="
timeout "${LIMITS[0]}" "$PY" scripts/gpu_bench.py "${BENCH[@]}"
echo "== 2/2 mini-sweep $SWEEP with --workers auto -> $RESULTS ($((SECONDS - start)) s so far) =="
timeout "${LIMITS[1]}" "$PY" -m harness run "$SWEEP" --results "$RESULTS" --workers auto --no-wandb
"$PY" scripts/sweep_throughput.py "$SWEEP" "$RESULTS" --expect 6 "${MFU[@]}"
echo "gpu check passed in $((SECONDS - start)) s"
