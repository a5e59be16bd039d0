"""The engine benchmark: its rows, their ratios, and a reference checkout run as such."""
from pathlib import Path

import pytest

from plastisim.bench.engine import bench_engine
from plastisim.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_bench_engine_times_plastisim_the_hand_step_and_a_reference():
    out = bench_engine(rules=("bp",), widths=(8,), sizes=(1, 2), repeats=1, steps=20, warmup=5,
                       reference=str(ROOT), compiled=False)
    rows = {(r["what"], r["members"]): r for r in out["rows"]}
    assert set(rows) == {("plastisim", 1), ("reference", 1), ("hand", 1), ("hand", 2),
                         ("plastisim", 2)}
    for row in out["rows"]:
        assert row["ms_per_member_step"] > 0 and len(row["repeats_ms"]) == 1
    one = rows[("plastisim", 1)]
    assert one["speedup"] == pytest.approx(rows[("reference", 1)]["ms_per_member_step"]
                                           / one["ms_per_member_step"])
    assert one["over_hand"] == pytest.approx(one["ms_per_member_step"]
                                             / rows[("hand", 1)]["ms_per_member_step"])


def test_a_reference_that_is_no_checkout_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="not a checkout of plastisim"):
        bench_engine(reference=str(tmp_path))
