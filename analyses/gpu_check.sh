#!/usr/bin/env bash
# A check of plastisim on a CUDA machine, in under 5 minutes; everything lands in ${OUT:-gpu_check}
# (a relative path: from the repository root):
#
#     bash analyses/gpu_check.sh                  # OUT=gpu_check, PYTHON=.venv/bin/python
#     OUT=runs/gpu ENSEMBLE_RULES="bp dfa" bash analyses/gpu_check.sh    # more rules: longer
#     REPEATS=1 bash analyses/gpu_check.sh       # 1 instead of 3 repeats of the ensemble figures
#
#   nvidia-smi.txt     the device
#   pytest_cuda.txt    the CUDA test cases (the `cuda`-marked parameters of tests/conftest.py)
#   train.json         `plastisim bench train --device cuda` (training step vs hand-written torch)
#   ensemble.json      `bench_ensemble` on cuda: E = 1, 4, 16, 64, widths 64 and 256
#   peak.json          an 8192² fp32 matmul (TF32 off, then on) as the practical peak, and the
#                      FLOP/s of the bp ensemble at width 256, E = 64 as a fraction of it
#   summary.json       exit codes of the steps
#
# Exits 1 with a message when torch sees no CUDA device, and 1 when a step failed.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_check}
PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}
RULES=${ENSEMBLE_RULES:-bp}
REPEATS=${REPEATS:-3}

if ! "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu_check: no CUDA device (torch.cuda.is_available() is False with $PYTHON);" \
         "nothing was measured" >&2
    exit 1
fi
mkdir -p "$OUT"

echo "== nvidia-smi"
if command -v nvidia-smi >/dev/null; then nvidia-smi | tee "$OUT/nvidia-smi.txt"
else echo "nvidia-smi not found" | tee "$OUT/nvidia-smi.txt"; fi

echo "== CUDA test cases"
"$PYTHON" -m pytest -q -m "not slow" -k cuda tests/ 2>&1 | tee "$OUT/pytest_cuda.txt"
tests=${PIPESTATUS[0]}

echo "== training step on cuda"
"$PYTHON" -m plastisim bench train --device cuda > "$OUT/train.json"
train=$?

echo "== ensembles on cuda: $RULES"
# shellcheck disable=SC2086  (RULES is a list of words)
"$PYTHON" analyses/bench_ensemble.py --device cuda --rules $RULES --sizes 1 4 16 64 \
    --widths 64 256 --repeats "$REPEATS" --out "$OUT/ensemble.json" > /dev/null
ensemble=$?

echo "== matmul peak, and bp at width 256, E = 64 against it"
"$PYTHON" - "$OUT" <<'EOF'
import json, statistics, sys
from pathlib import Path

import torch

out, n = Path(sys.argv[1]), 8192
a, b = (torch.randn(n, n, device="cuda") for _ in range(2))


def flop_per_s(tf32: bool, repeats: int = 10) -> float:
    """2 n³ / the median time of one n × n fp32 matmul (CUDA events)."""
    torch.backends.cuda.matmul.allow_tf32 = tf32
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        a @ b
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return 2 * n ** 3 / statistics.median(times)


peak = {"matmul": f"{n} x {n} fp32, median of 10", "fp32_flop_per_s": flop_per_s(False),
        "tf32_flop_per_s": flop_per_s(True)}
torch.backends.cuda.matmul.allow_tf32 = False          # torch's default, as in training
path = out / "ensemble.json"
rows = json.loads(path.read_text())["rows"] if path.exists() else []
row = next((r for r in rows if (r["rule"], r["width"], r["members"]) == ("bp", 256, 64)), None)
if row is not None:
    # FLOPs of one bp step per sample (plastisim.bench.ensemble.bp_flops_per_sample): with
    # M_l = positions_l · width · s · C_{l-1} multiply-adds of layer l (readout: width · n_c),
    # forward 2 Σ M_l + weight gradients 2 Σ M_l + signals sent down 2 Σ_{l≥2} M_l
    # = 6 Σ M_l − 2 M_1 ≈ 3 × 2 × Σ MACs (2.44 MFLOP per sample at width 256, L = 3)
    achieved = row["bp_flops_per_sample"] * row["ensemble_member_samples_per_s"]
    peak.update(bp_width256_E64_flop_per_s=achieved,
                bp_flops_per_sample=row["bp_flops_per_sample"],
                fraction_of_fp32_peak=achieved / peak["fp32_flop_per_s"],
                fraction_of_tf32_peak=achieved / peak["tf32_flop_per_s"])
(out / "peak.json").write_text(json.dumps(peak, indent=2) + "\n")
print(json.dumps(peak, indent=2))
for r in rows:
    print(f"{r['rule']:>7} width {r['width']:>4} E {r['members']:>3}: "
          f"{r['ensemble_member_samples_per_s']:12.0f} member-samples/s, "
          f"speedup {r['speedup']:6.2f} over sequential")
EOF
peak=$?

printf '{"pytest_cuda": %d, "train": %d, "ensemble": %d, "peak": %d}\n' \
    "$tests" "$train" "$ensemble" "$peak" | tee "$OUT/summary.json"
if [ $((tests + train + ensemble + peak)) -ne 0 ]; then
    echo "gpu_check: a step failed (exit codes above; see $OUT/)" >&2
    exit 1
fi
echo "gpu_check: done, results in $OUT/"
