"""P* of the contrastive rules at v = n_c = 8, m = 4, L = 3 with the 32 n* point (docs/results.md §2).

    python analyses/grammar_free/hard_case_pstar.py

Concatenates the 16 n* grid (grid_v8_m4_L3.nc, the two rules of the 32 n* file) and the 32 n*
runs (grid_v8_m4_L3_32.nc) along P and prints ``plastisim.study.summarize``'s P*/n* with its
95 % bootstrap interval over the three seeds.
"""
from pathlib import Path

import xarray as xr

from plastisim.study import rows, summarize

RESULTS = Path(__file__).resolve().parents[1] / "results" / "grammar_free"
KEEP = ["test_error", "n_classes", "status", "n_star", "rhm_v", "rhm_m", "rhm_L",
        "network_width", "sensitivity"]

if __name__ == "__main__":
    more = xr.open_dataset(RESULTS / "grid_v8_m4_L3_32.nc").load()[KEEP]
    grid = xr.open_dataset(RESULTS / "grid_v8_m4_L3.nc").load()[KEEP].sel(
        rule=list(more.rule.values))
    ds = xr.concat([grid, more], dim="n_train_multiple", data_vars="minimal",
                   coords="minimal", compat="override")
    for record in rows(summarize(ds)):
        print(f"{record['rule']}: P*/n* {record['text']} {record['interval']}")
