"""friendli-edit: the demo, real edits against the emulator, exit codes and messages."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import TOKEN, photo, png_bytes


@pytest.fixture(scope="module")
def cli(pack):
    return importlib.import_module(pack.__name__ + ".cli.main")


def test_demo_writes_an_edited_sample(cli, tmp_path, capsys):
    out = tmp_path / "demo.png"
    assert cli.main(["--demo", "--out", str(out)]) == 0
    edited = np.asarray(Image.open(out))
    sample = np.asarray(Image.open(cli.SAMPLE_IMAGE).convert("RGB"))
    assert edited.shape == sample.shape and not np.array_equal(edited, sample)
    assert "wrote" in capsys.readouterr().out


def test_installed_command_runs_the_demo(tmp_path):
    command = shutil.which("friendli-edit", path=str(Path(sys.executable).parent)) or shutil.which("friendli-edit")
    if command is None:
        pytest.skip("friendli-edit is not installed here (pip install -e . installs it)")
    run = subprocess.run([command, "--demo", "-q", "--out", "x.png"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "x.png" and (tmp_path / "x.png").stat().st_size > 0


def test_edit_against_endpoint_with_every_option(cli, env, emulator, tmp_path, capsys):
    src = tmp_path / "in.png"
    src.write_bytes(png_bytes(photo()))
    code = cli.main([str(src), "-p", "red sky", "-e", "test-endpoint", "--adapter-route", "a1", "--steps", "9",
                     "--guidance", "2.5", "--seed", "11", "--format", "jpeg", "--team", "t1",
                     "--out", str(tmp_path / "out")])
    assert code == 0
    body = emulator.requests[-1].body
    assert (body["model"], body["num_inference_steps"], body["guidance_scale"], body["seed"],
            body["response_format"]) == ("test-endpoint:a1", 9, 2.5, 11, "jpeg")
    assert emulator.requests[-1].header("X-Friendli-Team") == "t1"
    assert (tmp_path / "out.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    assert "seed 11" in capsys.readouterr().out


def test_each_sends_one_request_per_image_with_consecutive_seeds(cli, env, emulator, tmp_path):
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"in{i}.png")
        paths[-1].write_bytes(png_bytes(photo(seed=i)))
    assert cli.main([*map(str, paths), "-p", "x", "-e", "test-endpoint", "--each", "--seed", "5",
                     "-o", str(tmp_path / "r.png")]) == 0
    assert sorted(r.body["seed"] for r in emulator.requests) == [5, 6, 7]
    assert sorted(p.name for p in tmp_path.glob("r-*.png")) == ["r-1.png", "r-2.png", "r-3.png"]


def test_several_images_without_each_are_one_request(cli, env, emulator, tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    a.write_bytes(png_bytes(photo()))
    b.write_bytes(png_bytes(photo(30, 20)))
    assert cli.main([str(a), str(b), "-p", "x", "-e", "test-endpoint", "-o", str(tmp_path / "m.png")]) == 0
    assert len(emulator.requests) == 1 and len(emulator.requests[0].body["image"]) == 2


def test_container_target(cli, emulator, tmp_path, monkeypatch):
    src = tmp_path / "in.png"
    src.write_bytes(png_bytes(photo()))
    assert cli.main([str(src), "-p", "x", "--container", "--base-url", emulator.base_url,
                     "-o", str(tmp_path / "c")]) == 0
    assert emulator.requests[-1].path == "/v1/images/edits" and (tmp_path / "c.jpg").exists()


@pytest.mark.parametrize("argv,code,words", [
    (["in.png", "-e", "test-endpoint"], 2, "--prompt is required"),
    (["in.png", "-p", "x"], 2, "--endpoint-id is required"),
    (["missing.png", "-p", "x", "-e", "test-endpoint"], 2, "cannot read"),
    (["in.png", "-p", "x", "-e", "test-endpoint", "--steps", "99"], 2, "num_inference_steps"),
    (["in.png", "-p", "x", "-e", "unknown-endpoint"], 1, "FriendliNotFoundError"),
])
def test_errors_and_exit_codes(cli, env, tmp_path, monkeypatch, capsys, argv, code, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.png").write_bytes(png_bytes(photo()))
    try:
        result = cli.main(argv)
    except SystemExit as exit_:  # argparse's usage errors
        result = exit_.code
    err = capsys.readouterr().err
    assert result == code and words in err and TOKEN not in err


def test_missing_token_exit_code_and_message(cli, tmp_path, capsys, emulator):
    src = tmp_path / "in.png"
    src.write_bytes(png_bytes(photo()))
    assert cli.main([str(src), "-p", "x", "-e", "test-endpoint", "--base-url", emulator.base_url]) == 2
    err = capsys.readouterr().err
    assert "FRIENDLI_TOKEN" in err and "Settings > Friendli" in err



@pytest.mark.parametrize("flag,value", [("--read-timeout", "-1"), ("--read-timeout", "nan"), ("--read-timeout", "inf"),
                                        ("--concurrency", "0")])
def test_bad_numbers_are_refused_before_anything_is_sent(cli, env, emulator, tmp_path, capsys, flag, value):
    src = tmp_path / "in.png"
    src.write_bytes(png_bytes(photo()))
    with pytest.raises(SystemExit) as info:
        cli.main([str(src), "-p", "x", "-e", "test-endpoint", flag, value])
    assert info.value.code == 2 and flag in capsys.readouterr().err
    assert emulator.requests == []


def test_unwritable_out_is_one_line_and_exit_1(cli, env, emulator, tmp_path, capsys):
    src = tmp_path / "in.png"
    src.write_bytes(png_bytes(photo()))
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = cli.main([str(src), "-p", "x", "-e", "test-endpoint", "--out", str(blocker / "sub" / "out.png")])
    err = capsys.readouterr().err
    assert code == 1 and "could not write" in err and str(blocker / "sub") in err and "Traceback" not in err


def test_status_prints_the_state_without_an_edit(cli, env, emulator, capsys):
    emulator.endpoint.set_state("SLEEPING")
    assert cli.main(["--status", "-e", "test-endpoint"]) == 0
    assert capsys.readouterr().out.strip() == "test-endpoint: sleeping"
    emulator.endpoint.fail("INFERENCE_ENGINE_MEMORY_ERROR")
    assert cli.main(["--status", "-e", "test-endpoint"]) == 0
    assert "failed" in capsys.readouterr().out and emulator.requests == []
    assert cli.main(["--status", "-e", "nope"]) == 1
