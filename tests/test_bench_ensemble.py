"""The ensemble benchmark at a tiny size: its documented keys, positive finite ratios, and the
command line; never a timing (DESIGN.md, "Standards")."""
import json
import math

import pytest

from plastisim.bench import BENCHMARKS, benchmark_options
from plastisim.bench.ensemble import bench_ensemble, bp_flops_per_sample
from plastisim.bench.train import _explicit_step, _matmul_flops, step_context
from plastisim.cli import main
from plastisim.rhm import RHM, one_hot

ROW_KEYS = {"rule", "width", "members", "speedup", "state_bytes_per_member",
            *(f"{kind}_{key}" for kind in ("ensemble", "sequential")
              for key in ("member_samples_per_s", "wall_s", "peak_bytes_per_member", "statuses"))}
TOP_KEYS = {"benchmark", "device", "rhm", "batch_size", "steps", "warmup", "repeats", "members",
            "rule_params", "timer", "memory", "note", "rows", "machine"}


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def test_bench_ensemble_reports_its_keys_and_positive_ratios():
    out = bench_ensemble(sizes=(1, 2), rules=("bp", "dfa", "clapp", "vicreg"), widths=(8,),
                         batch_size=16, steps=4, warmup=1, repeats=1)
    json.dumps(out)                                       # JSON-able as it is
    assert TOP_KEYS <= set(out) and out["benchmark"] == "ensemble" and out["device"] == "cpu"
    assert [(r["rule"], r["members"]) for r in out["rows"]] == [
        (rule, size) for rule in ("bp", "dfa", "clapp", "vicreg") for size in (1, 2)]
    for row in out["rows"]:
        assert ROW_KEYS <= set(row), sorted(ROW_KEYS - set(row))
        for key in ("speedup", "ensemble_member_samples_per_s",
                    "sequential_member_samples_per_s", "state_bytes_per_member"):
            assert _positive(row[key]), (key, row[key])
        assert sum(row["ensemble_statuses"].values()) == row["members"]
        assert sum(row["sequential_statuses"].values()) == row["members"]
        assert ("ensemble_flop_per_s" in row) == (row["rule"] == "bp")


def test_bp_flops_formula_is_the_counted_matrix_products():
    rhm = RHM(v=8, n_classes=8, m=4, s=2, L=3, seed=0)
    ctx = step_context(rhm, batch_size=4)
    x, y = one_hot(ctx.batch.x, rhm.v), ctx.batch.y
    for width in (8, 16):
        counted = _matmul_flops(_explicit_step("bp", rhm, width, ctx, x, y))
        assert counted == 4 * bp_flops_per_sample(rhm, width)


def test_plastisim_bench_ensemble_by_name_with_its_options(capsys):
    assert "ensemble" in BENCHMARKS and "device" in benchmark_options("ensemble")
    argv = ["bench", "ensemble", "--sizes", "1", "--widths", "8", "--rules", "bp",
            "--repeats", "1", "--device", "cpu"]
    assert main(argv) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert [(r["rule"], r["width"], r["members"]) for r in result["rows"]] == [("bp", 8, 1)]


@pytest.mark.parametrize("argv, says", [
    (["bench", "nope"], "'nope' is unknown"),
    (["bench", "rhm", "--sizes", "1"], "--sizes is an option of the benchmarks ensemble"),
])
def test_plastisim_bench_refuses_unknown_names_and_options(argv, says, capsys):
    assert main(argv) == 2
    assert says in capsys.readouterr().err
