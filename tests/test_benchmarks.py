"""The benchmark script runs (--smoke: every path on tiny data; generated images, no network) and writes
every section as JSON.

No timing is asserted here: the numbers belong to the benchmark's own tables. The sections run in two
run.py processes at once, one per core of a two-core CI machine (contention only slows the tables, which
nothing here reads as a target); the bulk section has its own test (tests/test_bulk_bench.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from helpers import ROOT

GROUPS = ("codec,import,budget,memory", "batch,overlap,crop")  # about the same CPU time each (~30 s)


def smoke_run(tmp_path) -> tuple[dict, str]:
    """run.py --smoke --synthetic for GROUPS, concurrently: (the merged JSON, both outputs)."""
    procs = []
    for i, group in enumerate(GROUPS):
        with open(tmp_path / f"{i}.out", "w") as out, open(tmp_path / f"{i}.err", "w") as err:
            procs.append(subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke",
                                           "--synthetic", "--images", "1", "--sections", group,
                                           "--out", str(tmp_path / f"{i}.json")], stdout=out, stderr=err,
                                          start_new_session=True))
    result, stdout = {}, ""
    try:
        for i, proc in enumerate(procs):
            assert proc.wait(timeout=600) == 0, (tmp_path / f"{i}.err").read_text()[-3000:]
            result |= json.loads((tmp_path / f"{i}.json").read_text())
            stdout += (tmp_path / f"{i}.out").read_text()
    finally:
        for proc in procs:  # the other group (and its children), when one failed
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return result, stdout


def test_quick_benchmark_runs_and_writes_all_sections(tmp_path):
    result, stdout = smoke_run(tmp_path)
    assert result["smoke"] and result["quick"]
    assert {"machine", "codec", "batch", "overlap", "memory", "import", "budget", "crop"} <= set(result)
    assert "Codec target" in stdout and "Import of the pack" in stdout

    codec = result["codec"]
    assert set(codec["sizes"]) == {"256", "512"}  # smoke: 1024 and 2048 scaled down
    assert "stages" in codec["sizes"]["256"] and "Codec target (256x256 PNG" in stdout
    for block in codec["sizes"].values():
        names = [row["row"] for row in block["rows"]]
        assert names[0].startswith("png naive") and any(n.startswith("url") for n in names)
        assert all(row["response_ms"] > 0 and row["response_image_bytes"] > 0 for row in block["rows"])
    assert {"time_ratio", "payload_ratio", "pass"} <= set(codec["target"]) and codec["target"]["size"] == 256
    assert codec["encoder"]["size"] == [256, 256, 3]

    for name in ("batch", "overlap", "memory"):  # all need the FriendliImageEdit node
        section = result[name]
        assert "skipped" in section or "pass" in json.dumps(section), section
    if "rows" in result["batch"]:
        assert [r["concurrency"] for r in result["batch"]["rows"]] == [1, 2, 4, 8]
    overlap = result["overlap"]
    if "skipped" not in overlap:  # 2 remote branches + 1 local one, each one latency long
        assert "Graph overlap" in stdout
        assert overlap["ideal_s"] == overlap["latency"] and overlap["one_at_a_time_s"] == 3 * overlap["latency"]
        assert overlap["wall_s"] > 0 and overlap["local_done_s"][0] >= overlap["latency"]
        assert overlap["one_at_a_time_measured_s"] >= 3 * overlap["latency"]  # the emulator's latency is real
    assert result["import"]["runs"] >= 1 and result["import"]["median_ms"] > 0

    budget = result["budget"]  # smoke: 16 answers of ~2.7 MiB; default budget vs off, then a normal batch
    if "skipped" not in budget:
        assert "Memory budget" in stdout
        assert [r["budget_mib"] for r in budget["bound"]["rows"]] == [512, 65536]
        assert budget["bound"]["answers_sent"] == 32
        assert 2 << 20 < budget["bound"]["answer_bytes"] < 3 << 20
        assert all(r["growth_bytes"] > 0 and r["budget_peak_bytes"] > 0 for r in budget["bound"]["rows"])
        assert [r["budget_mib"] for r in budget["normal"]["rows"]] == [512, 65536]
        assert all(r["wall_s"] >= budget["normal"]["latency"] for r in budget["normal"]["rows"])

    crop = result["crop"]  # smoke: a 912 x 608 frame, 3 % mask; whole (cap 0.5, no cap) and crop to mask (0.25 MP)
    if "skipped" not in crop:
        assert "Crop: a 912x608 photo" in stdout
        assert abs(crop["mask_share"] - 0.03) < 0.001
        whole, uncapped, cropped = crop["rows"]
        assert [r["mask_mode"] for r in crop["rows"]] == ["whole image", "whole image", "crop to mask"]
        for row in crop["rows"]:
            assert row["max_error_outside"] == 0 and row["pass"]  # bit-exact beyond the mask
            assert row["requests"] == 2 and row["body_bytes"] > 0  # warm-up + one measured run, seen by the emulator
        assert [r["max_send_megapixels"] for r in crop["rows"]] == [0.5, 0.0, 0.5]
        assert cropped["crop_megapixels"] == 0.25
        assert uncapped["sent_size"] == [912, 608]  # 0.55 MP, sent as it is
        assert whole["sent_size"][0] * whole["sent_size"][1] <= 0.5 * 1024**2  # the cap: smaller, back at full size
        assert cropped["sent_size"][0] * cropped["sent_size"][1] <= 0.3 * 1024**2
        assert whole["output_shape"] == uncapped["output_shape"] == cropped["output_shape"] == [1, 608, 912, 3]
        assert uncapped["mae_inside"] < 0.01  # sent at full size: the stand-in edit itself
        assert cropped["body_bytes"] < whole["body_bytes"] < uncapped["body_bytes"]
        assert whole["mae_inside"] > 0 and cropped["mae_inside"] > 0
