#!/usr/bin/env bash
# A check of plastisim on a CUDA machine, in under 5 minutes; everything lands in ${OUT:-gpu_check}
# (a relative path: from the repository root):
#
#     bash analyses/gpu_check.sh                  # OUT=gpu_check, PYTHON=.venv/bin/python
#     OUT=runs/gpu ENSEMBLE_RULES="bp dfa" bash analyses/gpu_check.sh    # more rules: longer
#     REPEATS=1 bash analyses/gpu_check.sh       # 1 instead of 3 repeats of the ensemble figures
#
# DEVICE=cpu runs the same steps on the CPU (no CUDA test cases), with SIZES, WIDTHS,
# TRAIN_WIDTHS and PEAK_N to make it small: a check of the script itself before device time is
# spent on it (tests/test_gpu_check.py):
#
#     DEVICE=cpu SIZES="1 2" WIDTHS=64 TRAIN_WIDTHS=64 PEAK_N=512 REPEATS=1 \
#         ENGINE_SIZES=1 bash analyses/gpu_check.sh
#
#   nvidia-smi.txt     the device
#   pytest_cuda.txt    the CUDA test cases (the `cuda`-marked parameters of tests/conftest.py)
#   train.json         `plastisim bench train --device cuda` (training step vs hand-written torch)
#   ensemble.json      `bench_ensemble` on cuda: E = 1, 4, 16, 64, widths 64 and 256
#   engine.json        `plastisim bench engine` on cuda: bp at width 64, one network and E = 16
#                      and 64 members, eager and compiled (mode="reduce-overhead": CUDA graphs),
#                      against the hand-written step, eager and compiled
#   peak.json          an 8192² fp32 matmul (TF32 off, then on) as the practical peak, and the
#                      FLOP/s of the bp ensemble at width 256, E = 64 (else its largest width
#                      and E measured) as a fraction of it
#   summary.json       exit codes of the steps
#
# Exits 1 with a message when torch sees no CUDA device, and 1 when a step failed.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_check}
PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}
RULES=${ENSEMBLE_RULES:-bp}
REPEATS=${REPEATS:-3}
DEVICE=${DEVICE:-cuda}
SIZES=${SIZES:-1 4 16 64}
WIDTHS=${WIDTHS:-64 256}
TRAIN_WIDTHS=${TRAIN_WIDTHS:-64 256 1024}
PEAK_N=${PEAK_N:-8192}
ENGINE_SIZES=${ENGINE_SIZES:-1 16 64}

has_cuda='import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'
if [ "$DEVICE" = cuda ] && ! "$PYTHON" -c "$has_cuda"; then
    echo "gpu_check: no CUDA device (torch.cuda.is_available() is False with $PYTHON);" \
         "nothing was measured" >&2
    exit 1
fi
mkdir -p "$OUT"

echo "== nvidia-smi"
if command -v nvidia-smi >/dev/null; then nvidia-smi | tee "$OUT/nvidia-smi.txt"
else echo "nvidia-smi not found" | tee "$OUT/nvidia-smi.txt"; fi

if [ "$DEVICE" = cuda ]; then
    echo "== CUDA test cases"
    "$PYTHON" -m pytest -q -m "not slow" -k cuda tests/ 2>&1 | tee "$OUT/pytest_cuda.txt"
    tests=${PIPESTATUS[0]}
else
    echo "device $DEVICE: no CUDA test cases" | tee "$OUT/pytest_cuda.txt"
    tests=0
fi

echo "== training step on $DEVICE"
# shellcheck disable=SC2086  (TRAIN_WIDTHS, RULES, SIZES and WIDTHS are lists of words)
"$PYTHON" -m plastisim bench train --device "$DEVICE" --widths $TRAIN_WIDTHS > "$OUT/train.json"
train=$?

echo "== ensembles on $DEVICE: $RULES"
# shellcheck disable=SC2086
"$PYTHON" analyses/bench_ensemble.py --device "$DEVICE" --rules $RULES --sizes $SIZES \
    --widths $WIDTHS --repeats "$REPEATS" --out "$OUT/ensemble.json" > /dev/null
ensemble=$?

echo "== the engine on $DEVICE: eager and compiled, one network and E members"
# shellcheck disable=SC2086
"$PYTHON" -m plastisim bench engine --device "$DEVICE" --rules bp --widths 64 \
    --sizes $ENGINE_SIZES --repeats 1 > "$OUT/engine.json"
engine=$?

echo "== matmul peak, and bp at width 256, E = 64 against it"
"$PYTHON" - "$OUT" "$DEVICE" "$PEAK_N" <<'EOF'
import json, statistics, sys, time
from pathlib import Path

import torch

out, device, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
a, b = (torch.randn(n, n, device=device) for _ in range(2))


def seconds(fn) -> float:
    """Wall time of fn(): CUDA events on cuda, the clock elsewhere."""
    if device != "cuda":
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1e3


def flop_per_s(tf32: bool, repeats: int = 10) -> float:
    """2 n³ / the median time of one n × n fp32 matmul."""
    torch.backends.cuda.matmul.allow_tf32 = tf32
    for _ in range(3):
        a @ b
    return 2 * n ** 3 / statistics.median(seconds(lambda: a @ b) for _ in range(repeats))


peak = {"matmul": f"{n} x {n} fp32 on {device}, median of 10",
        "fp32_flop_per_s": flop_per_s(False), "tf32_flop_per_s": flop_per_s(True)}
torch.backends.cuda.matmul.allow_tf32 = False          # torch's default, as in training
path = out / "ensemble.json"
rows = json.loads(path.read_text())["rows"] if path.exists() else []
bp = [r for r in rows if r["rule"] == "bp"]
row = next((r for r in bp if (r["width"], r["members"]) == (256, 64)),
           max(bp, key=lambda r: (r["width"], r["members"]), default=None))
if row is not None:
    # FLOPs of one bp step per sample (plastisim.bench.ensemble.bp_flops_per_sample): with
    # M_l = positions_l · width · s · C_{l-1} multiply-adds of layer l (readout: width · n_c),
    # forward 2 Σ M_l + weight gradients 2 Σ M_l + signals sent down 2 Σ_{l≥2} M_l
    # = 6 Σ M_l − 2 M_1 ≈ 3 × 2 × Σ MACs (2.44 MFLOP per sample at width 256, L = 3)
    achieved = row["bp_flops_per_sample"] * row["ensemble_member_samples_per_s"]
    peak.update(bp_row={"width": row["width"], "members": row["members"]},
                bp_flop_per_s=achieved, bp_flops_per_sample=row["bp_flops_per_sample"],
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

printf '{"pytest_cuda": %d, "train": %d, "ensemble": %d, "engine": %d, "peak": %d}\n' \
    "$tests" "$train" "$ensemble" "$engine" "$peak" | tee "$OUT/summary.json"
if [ $((tests + train + ensemble + engine + peak)) -ne 0 ]; then
    echo "gpu_check: a step failed (exit codes above; see $OUT/)" >&2
    exit 1
fi
echo "gpu_check: done, results in $OUT/"
