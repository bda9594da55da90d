#!/usr/bin/env bash
# Train a CPU-sized pose tokenizer on synthetic random-valid poses and a synthetic SMPL model, then print the
# reconstruction MPJPE / MVE (mm) and codebook usage of the final validation. Usage:
#   scripts/train_tokenizer_synthetic.sh [OUT_DIR] [STEPS]
# Defaults: OUT_DIR runs/tokenizer_synthetic, STEPS 2000 (the number reported in README.md).
# The numbers are for synthetic data and a synthetic body; they show the trainer works, not AMASS accuracy.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-runs/tokenizer_synthetic}"
STEPS="${2:-2000}"
PY="${PYTHON:-.venv/bin/python}"
# One intra-op thread: the network is tiny, and on busy cores OpenMP threads spin instead of working (a step costs
# ~15x the CPU time with 2 threads on 2 shared cores). Override with OMP_NUM_THREADS=N.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
"$PY" -m training.tokenizer --config training/configs/tokenizer_synthetic_cpu.yaml \
    --synthetic 20000 --out-dir "$OUT" --steps "$STEPS"
"$PY" - "$OUT/metrics.jsonl" <<'PYEOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
train = [r for r in rows if "train/loss" in r]
val = [r for r in rows if "val/mpjpe_mm" in r]
print(f"{'step':>6} {'train loss':>11} {'val MPJPE mm':>13} {'val MVE mm':>11} {'usage':>7} {'perplexity':>11}")
for r in val:
    t = min(train, key=lambda x: abs(x["step"] - r["step"])) if train else {"train/loss": float("nan")}
    print(f"{r['step']:>6} {t['train/loss']:>11.4f} {r['val/mpjpe_mm']:>13.2f} {r['val/mve_mm']:>11.2f} "
          f"{r['val/codebook_usage']:>7.1%} {r['val/perplexity']:>11.1f}")
PYEOF
