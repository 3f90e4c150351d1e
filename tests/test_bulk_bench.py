"""The bulk benchmark section (benchmarks/bulk_bench.py, issue 22) runs quick: friendli-edit on folders of hard-linked
PNGs in a fresh process per row against the emulator process. No timing is asserted (the numbers are the table's)."""

from __future__ import annotations

import sys

from helpers import ROOT


def test_quick_bulk_section_sends_and_writes_every_image_and_measures_each_row():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bulk_bench

        result = bulk_bench.run(quick=True, synthetic=True)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    rows = result["rows"]
    assert [(r["size"], r["images"]) for r in rows] == [(s, n) for s, n, _, _ in bulk_bench.QUICK]
    for row in rows:
        assert row["requests"] == row["images"] == row["written"] and row["failed"] == 0  # each sent once, written
        assert row["wall_s"] >= row["ideal_s"] * 0.99 and row["cpu_ms_per_image"] > 0
        assert row["peak_rss_bytes"] >= row["rss_after_imports_bytes"] > 0
    assert result["rss_ratio_of"] == [40, 160] and result["rss_ratio"] > 0 and isinstance(result["pass"], bool)
