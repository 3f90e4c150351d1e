"""Bulk runs from the command line (issue 22): --out-dir naming and sub-folders, manifests, resume (no request
for an existing output), --report lines, failures mid-run, --max-failures, --shard, the plan's refusals,
progress, Ctrl-C; against the emulator over loopback, with real PNG/JPEG/WebP files."""

from __future__ import annotations

import importlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import TOKEN, photo, png_bytes, wait_until

ARGS = ["-p", "make it blue", "-e", "test-endpoint"]


@pytest.fixture(scope="module")
def cli(pack):
    return importlib.import_module(pack.__name__ + ".cli.main")


@pytest.fixture(scope="module")
def gen(pack):
    return importlib.import_module(pack.__name__ + ".cli.generate")


@pytest.fixture(scope="module")
def bulk(pack):
    return importlib.import_module(pack.__name__ + ".cli.bulk")


@pytest.fixture(scope="module")
def inputs(pack):
    return importlib.import_module(pack.__name__ + ".cli.inputs")


def image_file(path: Path, seed: int = 0, fmt: str = "PNG", size: int = 16) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    Image.fromarray(photo(size, size, seed=seed)).save(buf, fmt)
    path.write_bytes(buf.getvalue())
    return path


def images_in(folder: Path, n: int, prefix: str = "img") -> list[Path]:
    return [image_file(folder / f"{prefix}{i:02d}.png", seed=i) for i in range(n)]


def outputs(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def report(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def decodes(path: Path) -> bool:
    with Image.open(path) as img:
        img.load()
    return True


def test_folder_keeps_sub_folders_and_seeds_follow_the_sorted_listing(cli, online, tmp_path, capsys):
    src = tmp_path / "in"
    image_file(src / "a" / "b" / "x.png", 1)
    image_file(src / "a" / "y.jpg", 2, "JPEG")
    image_file(src / "top.webp", 3, "WEBP")
    image_file(src / ".hidden.png", 4)
    (src / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    assert cli.main([str(src), "--out-dir", str(out), "--seed", "10", "--report", str(tmp_path / "r.jsonl"),
                     *ARGS]) == 0
    assert outputs(out) == ["a/b/x.png", "a/y.png", "top.png"]
    assert all(decodes(out / name) for name in outputs(out))
    seeds = {line["input"]: line["seed"] for line in report(tmp_path / "r.jsonl")}
    assert seeds == {str(src / "a" / "b" / "x.png"): 10, str(src / "a" / "y.jpg"): 11, str(src / "top.webp"): 12}
    assert sorted(r.body["seed"] for r in online.requests) == [10, 11, 12]
    err = capsys.readouterr().err
    assert "3 written, 0 skipped (output existed), 0 failed of 3" in err and "1 non-image file ignored" in err


def test_manifest_paths_relative_to_it_and_a_missing_line_is_refused_before_sending(cli, online, tmp_path, capsys):
    a = image_file(tmp_path / "lists" / "pics" / "a.png")
    b = image_file(tmp_path / "elsewhere" / "b.png", 1)
    manifest = tmp_path / "lists" / "batch.txt"
    manifest.write_text(f"# product shots\npics/a.png\n\n{b}\n")
    out = tmp_path / "out"
    assert cli.main([f"@{manifest}", "--out-dir", str(out), "--format", "jpeg", *ARGS]) == 0
    assert outputs(out) == ["a.jpg", "b.jpg"] and len(online.requests) == 2
    manifest.write_text(f"pics/a.png\npics/gone.png\n{b}\n")
    capsys.readouterr()
    assert cli.main([f"@{manifest}", "--out-dir", str(tmp_path / "out2"), *ARGS]) == 2
    err = capsys.readouterr().err
    assert "line 2" in err and "gone.png" in err and len(online.requests) == 2  # nothing more was sent
    assert a.exists()


def test_rerun_sends_nothing_and_overwrite_redoes(cli, online, tmp_path):
    src = tmp_path / "in"
    images_in(src, 4)
    out = src / "edited"  # inside the input folder: never walked as input
    argv = [str(src), "--out-dir", str(out), "--seed", "3", *ARGS]
    assert cli.main(argv) == 0 and len(online.requests) == 4
    first = {name: (out / name).read_bytes() for name in outputs(out)}
    assert cli.main([*argv, "--report", str(tmp_path / "r.jsonl")]) == 0
    assert len(online.requests) == 4  # 0 requests on the re-run
    lines = report(tmp_path / "r.jsonl")
    assert [(line["status"], line["seed"]) for line in lines] == [("skipped", 3 + i) for i in range(4)]
    assert lines[0]["output"] == str(out / "img00.png") and lines[0]["endpoint_seconds"] is None
    (out / "img02.png").unlink()
    assert cli.main(argv) == 0 and len(online.requests) == 5
    assert online.requests[-1].body["seed"] == 5  # the same seed as the first time (3 + its index 2)
    assert (out / "img02.png").read_bytes() == first["img02.png"]
    assert cli.main([*argv, "--overwrite"]) == 0 and len(online.requests) == 9
    assert outputs(out) == sorted(first)


def test_report_lines_and_a_failure_mid_run(cli, online, tmp_path, capsys):
    src = tmp_path / "in"
    images_in(src, 5)
    (src / "img02.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # a corrupt image
    (src / "img03.png").rename(src / "img03.jpg")
    (src / "img03.jpg").write_bytes(b"not a jpeg at all")  # the wrong bytes behind an image name
    out, rep = tmp_path / "out", tmp_path / "logs" / "r.jsonl"
    assert cli.main([str(src), "--out-dir", str(out), "--report", str(rep), "--concurrency", "2", *ARGS]) == 1
    assert outputs(out) == ["img00.png", "img01.png", "img04.png"]  # the others were written
    lines = {Path(line["input"]).name: line for line in report(rep)}
    assert set(lines) == {"img00.png", "img01.png", "img02.png", "img03.jpg", "img04.png"}
    ok = lines["img00.png"]
    assert ok["status"] == "ok" and ok["output"] == str(out / "img00.png") and ok["error"] is None
    assert isinstance(ok["seed"], int) and ok["endpoint_seconds"] >= 0
    for name in ("img02.png", "img03.jpg"):
        assert lines[name]["status"] == "failed" and lines[name]["error"]
        assert lines[name]["output"] == str(out / (Path(name).stem + ".png"))
    assert "not an image" in lines["img03.jpg"]["error"]
    err = capsys.readouterr().err
    assert f"failed: {src / 'img03.jpg'}:" in err and f"failed: {src / 'img02.png'}:" in err
    assert "3 written, 0 skipped (output existed), 2 failed of 5" in err and f"see {rep}" in err
    assert TOKEN not in err and TOKEN not in rep.read_text()


def test_each_without_out_dir_writes_as_results_land_and_the_others_go_on(cli, online, tmp_path, capsys):
    paths = images_in(tmp_path, 3)
    online.fault("status", status=400)  # the first request fails; the others go on
    code = cli.main([*map(str, paths), "--each", "--concurrency", "1", "-o", str(tmp_path / "r.png"), *ARGS])
    assert code == 1 and len(online.requests) == 3
    assert sorted(p.name for p in tmp_path.glob("r-*.png")) == ["r-2.png", "r-3.png"]
    captured = capsys.readouterr()
    assert captured.out.count("wrote") == 2 and "1 failed of 3" in captured.err


def test_max_failures_stops_sending_and_in_flight_requests_drain(cli, online, tmp_path, capsys):
    src = tmp_path / "in"
    images_in(src, 10)
    online.fault("status", times=2, status=400)
    online.fault("latency", seconds=0.3)  # the third request is in flight when the second fails
    code = cli.main([str(src), "--out-dir", str(tmp_path / "out"), "--max-failures", "2", "--concurrency", "3",
                     "--report", str(tmp_path / "r.jsonl"), *ARGS])
    assert code == 1
    sent = len(online.requests)
    assert 3 <= sent < 10
    statuses = [line["status"] for line in report(tmp_path / "r.jsonl")]
    assert statuses.count("failed") == 2 and statuses.count("ok") == sent - 2  # the drained ones landed
    assert "(--max-failures)" in capsys.readouterr().err


def test_shards_are_disjoint_cover_everything_and_keep_the_seeds(cli, online, tmp_path):
    src = tmp_path / "in"
    images_in(src / "x", 7)
    images_in(src / "y", 5, "pic")
    outs = []
    for k in (1, 2, 3):
        out = tmp_path / f"shard{k}"
        assert cli.main([str(src), "--out-dir", str(out), "--shard", f"{k}/3", "--seed", "100", *ARGS]) == 0
        outs.append(set(outputs(out)))
    assert sum(map(len, outs)) == 12 and set().union(*outs) == set(outputs(src))
    assert all(len(o) < 12 for o in outs)  # really split
    seeds = sorted(r.body["seed"] for r in online.requests)
    assert seeds == list(range(100, 112))  # seed + the position in the whole listing, whatever the shard


def test_shard_assignment_follows_the_relative_path_not_the_order(inputs):
    names = [f"d{i % 5}/f{i}.png" for i in range(200)]
    by_shard = [[n for n in names if inputs.in_shard(n, (k, 4))] for k in (1, 2, 3, 4)]
    assert sorted(sum(by_shard, [])) == sorted(names) and all(by_shard)
    reversed_ = [[n for n in reversed(names) if inputs.in_shard(n, (k, 4))] for k in (1, 2, 3, 4)]
    assert [sorted(s) for s in reversed_] == [sorted(s) for s in by_shard]


@pytest.mark.parametrize("argv, words", [
    (["--shard", "0/3"], "K must be from 1 to N"),
    (["--shard", "4/3"], "K must be from 1 to N"),
    (["--shard", "two"], "is not K/N"),
    (["--max-failures", "0"], "--max-failures"),
    (["--out", "x.png"], "not both"),
])
def test_usage_errors_exit_2_before_anything_is_sent(cli, online, tmp_path, capsys, argv, words):
    images_in(tmp_path / "in", 2)
    with pytest.raises(SystemExit) as exit_:
        cli.main([str(tmp_path / "in"), "--out-dir", str(tmp_path / "out"), *argv, *ARGS])
    assert exit_.value.code == 2 and words in capsys.readouterr().err and not online.requests


def test_two_inputs_writing_one_output_are_refused_naming_both(cli, online, tmp_path, capsys):
    a = image_file(tmp_path / "in" / "shot.png")
    b = image_file(tmp_path / "in" / "shot.jpg", 1, "JPEG")
    image_file(tmp_path / "in" / "other.png", 2)
    assert cli.main([str(tmp_path / "in"), "--out-dir", str(tmp_path / "out"), *ARGS]) == 2
    err = capsys.readouterr().err
    assert str(a) in err and str(b) in err and "shot.png" in err and not online.requests
    c = image_file(tmp_path / "more" / "other.png", 3)  # a second folder with a name the first has
    assert cli.main([str(tmp_path / "in" / "other.png"), str(tmp_path / "more"), "--out-dir",
                     str(tmp_path / "out"), *ARGS]) == 2
    assert str(c) in capsys.readouterr().err and not online.requests


def test_a_folder_without_images_is_refused(cli, online, tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "readme.txt").write_text("no pictures here")
    assert cli.main([str(tmp_path / "in"), "--out-dir", str(tmp_path / "out"), *ARGS]) == 2
    assert "no images found (1 other files)" in capsys.readouterr().err and not online.requests


def test_folders_need_out_dir(cli, online, tmp_path, capsys):
    images_in(tmp_path / "in", 1)
    assert cli.main([str(tmp_path / "in"), "--each", *ARGS]) == 2
    assert "--out-dir" in capsys.readouterr().err and not online.requests


def test_generate_count_into_out_dir_resumes(gen, online, tmp_path, capsys):
    out = tmp_path / "gen"
    argv = ["-p", "a barn", "-e", "test-endpoint", "--count", "3", "--seed", "5", "--out-dir", str(out)]
    assert gen.main(argv) == 0
    assert outputs(out) == ["generated-00001.png", "generated-00002.png", "generated-00003.png"]
    assert sorted(r.body["seed"] for r in online.generation_requests) == [5, 6, 7]
    (out / "generated-00002.png").unlink()
    assert gen.main(argv) == 0 and len(online.generation_requests) == 4
    assert online.generation_requests[-1].body["seed"] == 6
    assert "1 written, 2 skipped (output existed)" in capsys.readouterr().err


def test_live_line_on_a_terminal_and_only_the_summary_otherwise(cli, online, pack, tmp_path, monkeypatch, capsys):
    prefs = importlib.import_module(pack.__name__ + ".client.prefs")
    prefs.write(prefs.validate({"result_store": False, "price_per_gpu_hour": 36.0}), prefs.default_path())
    images_in(tmp_path / "in", 4)
    argv = [str(tmp_path / "in"), "--concurrency", "1", *ARGS]
    assert cli.main([*argv, "--out-dir", str(tmp_path / "a")]) == 0
    assert capsys.readouterr().err.count("\n") == 1  # not a terminal: the summary only
    online.latency = 0.08

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    assert cli.main([*argv, "--out-dir", str(tmp_path / "b")]) == 0
    drawn = term.getvalue()
    assert "\r" in drawn and "/s · ETA " in drawn and "/4" in drawn and "endpoint " in drawn
    assert " ≈ $" in drawn  # a price is set: the endpoint time's cost
    term.truncate(0)
    assert cli.main([*argv, "--out-dir", str(tmp_path / "c"), "--quiet"]) == 0
    assert term.getvalue() == ""  # --quiet: no live line, no summary when all went well


def test_an_interrupted_write_leaves_no_file(bulk, tmp_path, monkeypatch):
    target = tmp_path / "sub" / "out.png"

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(bulk.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        bulk.write_atomic(target, b"\x89PNG" + b"\0" * 1000)
    assert list(target.parent.iterdir()) == []


def test_ctrl_c_mid_run_leaves_only_whole_outputs(online, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    images_in(src, 40)
    online.latency = 0.2
    env = {**os.environ, "FRIENDLI_TOKEN": TOKEN, "FRIENDLI_BASE_URL": online.base_url}
    child = subprocess.Popen([sys.executable, "-m", "comfyui_friendli.cli", str(src), "--out-dir", str(out),
                              "--concurrency", "4", "--no-store", *ARGS], env=env, stderr=subprocess.PIPE,
                             text=True)
    try:
        assert wait_until(lambda: out.exists() and len(list(out.glob("*.png"))) >= 4, timeout=20)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=10)
    finally:
        child.kill()
    assert child.returncode == 130 and "interrupted" in err
    written = list(out.iterdir())
    assert 4 <= len(written) < 40 and all(p.suffix == ".png" and decodes(p) for p in written)  # no .partial
    sent = len(online.requests)
    time.sleep(0.3)
    assert len(online.requests) == sent  # nothing sent after the interruption
    assert all(np.asarray(Image.open(p)).shape == (16, 16, 3) for p in written)
