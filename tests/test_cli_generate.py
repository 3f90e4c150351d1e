"""friendli-generate: generations against the emulator over loopback (both services, control images and
weights, --count seeds, the result store), usage errors before anything is sent, exit codes and messages."""

from __future__ import annotations

import importlib
import io
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import TOKEN, photo, png_bytes


@pytest.fixture(scope="module")
def gen(pack):
    return importlib.import_module(pack.__name__ + ".cli.generate")


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def control(tmp_path: Path, name: str, width: int = 80, height: int = 48, seed: int = 0) -> Path:
    path = tmp_path / name
    path.write_bytes(png_bytes(photo(width, height, seed=seed)))
    return path


def test_demo_generates_without_a_key(gen, tmp_path, capsys):
    out = tmp_path / "demo.png"
    assert gen.main(["--demo", "--out", str(out)]) == 0
    assert pixels(out).shape == (512, 512, 3)
    captured = capsys.readouterr()
    assert "wrote" in captured.out and "its generation is a deterministic stand-in" in captured.err


def test_installed_command_runs_the_demo(tmp_path):
    command = (shutil.which("friendli-generate", path=str(Path(sys.executable).parent))
               or shutil.which("friendli-generate"))
    if command is None:
        pytest.skip("friendli-generate is not installed here (pip install -e . installs it)")
    run = subprocess.run([command, "--demo", "-q", "--out", "g.png"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "g.png" and pixels(tmp_path / "g.png").shape == (512, 512, 3)


def test_generation_without_control_images_with_every_option(gen, env, emulator, tmp_path, capsys):
    code = gen.main(["-p", "a red barn", "-e", "test-endpoint", "--adapter-route", "a1", "--steps", "9",
                     "--guidance", "2.5", "--seed", "11", "--format", "jpeg", "--team", "t1",
                     "--out", str(tmp_path / "out")])
    assert code == 0
    (request,) = emulator.requests
    assert request.path == "/dedicated/v1/images/generations" and request.header("X-Friendli-Team") == "t1"
    body = request.body
    assert (body["prompt"], body["model"], body["num_inference_steps"], body["guidance_scale"], body["seed"],
            body["response_format"]) == ("a red barn", "test-endpoint:a1", 9, 2.5, 11, "jpeg")
    assert "image" not in body and body.get("control_images") is None and body.get("controlnet_weights") is None
    out = tmp_path / "out.jpg"
    assert out.read_bytes()[:3] == b"\xff\xd8\xff" and pixels(out).shape == (512, 512, 3)
    assert f"wrote {out} (512x512, image/jpeg, seed 11)" in capsys.readouterr().out


def test_default_output_name_is_generated_in_the_current_folder(gen, env, emulator, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert gen.main(["-p", "x", "-e", "test-endpoint", "-q"]) == 0
    assert capsys.readouterr().out.strip() == "generated.png" and pixels(tmp_path / "generated.png").size


def test_control_images_and_their_weights(gen, env, emulator, tmp_path):
    first, second = control(tmp_path, "pose.png", 80, 48), control(tmp_path, "depth.png", 40, 40, seed=3)
    out = tmp_path / "c.png"
    assert gen.main(["-p", "a dancer", "-e", "test-endpoint", "--seed", "2", "--control", str(first),
                     "--weight", "0.3", "--control", str(second), "-o", str(out)]) == 0
    body = emulator.requests[-1].body
    assert len(body["control_images"]) == 2 and body["controlnet_weights"] == [0.3, 1.0]
    sent = [Image.open(io.BytesIO(_data_uri_bytes(c["image"]))).size for c in body["control_images"]]
    assert sent == [(80, 48), (40, 40)]
    assert pixels(out).shape == (48, 80, 3)  # the emulator generates at the first control image's size

    # no --weight at all: none sent (the endpoint's default, 1.0 each); the weight changes the image
    assert gen.main(["-p", "a dancer", "-e", "test-endpoint", "--seed", "2", "--control", str(first),
                     "--control", str(second), "-o", str(tmp_path / "d.png")]) == 0
    assert emulator.requests[-1].body.get("controlnet_weights") is None
    assert not np.array_equal(pixels(out), pixels(tmp_path / "d.png"))


def _data_uri_bytes(uri: str) -> bytes:
    import base64

    assert uri.startswith("data:image/")
    return base64.b64decode(uri.partition(",")[2])


def test_container_generation(gen, emulator, tmp_path):
    pose = control(tmp_path, "pose.png")
    assert gen.main(["-p", "x", "--container", "--base-url", emulator.base_url, "--control", str(pose),
                     "--weight", "0.5", "-o", str(tmp_path / "c")]) == 0
    (request,) = emulator.requests
    assert request.path == "/v1/images/generations" and request.header("Authorization") is None
    assert "model" not in request.body and request.body["controlnet_weights"] == [0.5]
    out = tmp_path / "c.jpg"  # a container answers jpeg by default
    assert out.read_bytes()[:3] == b"\xff\xd8\xff" and pixels(out).shape == (48, 80, 3)


def test_count_sends_one_request_each_with_consecutive_seeds(gen, env, emulator, tmp_path, capsys):
    assert gen.main(["-p", "x", "-e", "test-endpoint", "--count", "3", "--seed", "5", "--concurrency", "2",
                     "-o", str(tmp_path / "g.png")]) == 0
    assert sorted(r.body["seed"] for r in emulator.requests) == [5, 6, 7]
    assert all(r.path == "/dedicated/v1/images/generations" for r in emulator.requests)
    out = capsys.readouterr().out
    images = []
    for i, seed in enumerate((5, 6, 7), 1):  # file i holds seed + i - 1
        path = tmp_path / f"g-{i}.png"
        assert f"wrote {path} (512x512, image/png, seed {seed})" in out
        images.append(pixels(path))
    assert not np.array_equal(images[0], images[1]) and not np.array_equal(images[1], images[2])


def test_count_without_a_seed_leaves_each_seed_to_the_endpoint(gen, env, emulator, tmp_path):
    assert gen.main(["-p", "x", "-e", "test-endpoint", "-n", "2", "-o", str(tmp_path / "r.png")]) == 0
    assert [r.body["seed"] for r in emulator.requests] == [None, None]
    assert sorted(p.name for p in tmp_path.glob("r-*.png")) == ["r-1.png", "r-2.png"]


def test_a_rerun_is_answered_from_the_store_unless_no_store(gen, env, emulator, tmp_path):
    argv = ["-p", "x", "-e", "test-endpoint", "--seed", "21", "-n", "2", "-q"]
    assert gen.main([*argv, "-o", str(tmp_path / "a.png")]) == 0
    assert len(emulator.requests) == 2
    assert gen.main([*argv, "-o", str(tmp_path / "b.png")]) == 0
    assert len(emulator.requests) == 2  # both answered from the store: nothing sent
    for i in (1, 2):
        assert (tmp_path / f"a-{i}.png").read_bytes() == (tmp_path / f"b-{i}.png").read_bytes()
    assert gen.main([*argv, "--no-store", "-o", str(tmp_path / "c.png")]) == 0
    assert len(emulator.requests) == 4
    assert pixels(tmp_path / "c-1.png").shape == (512, 512, 3)


def test_the_store_tells_generations_from_edits_and_control_weights(gen, env, emulator, tmp_path):
    pose = control(tmp_path, "pose.png")
    base = ["-p", "x", "-e", "test-endpoint", "--seed", "3", "-q", "--control", str(pose)]
    assert gen.main([*base, "-o", str(tmp_path / "a.png")]) == 0
    assert gen.main([*base, "--weight", "0.2", "-o", str(tmp_path / "b.png")]) == 0
    assert len(emulator.requests) == 2  # another weight is another request


@pytest.mark.parametrize("argv,words", [
    (["-p", "x", "-e", "test-endpoint", "--weight", "0.5"], "--weight 0.5 must follow the --control"),
    (["-p", "x", "-e", "test-endpoint", "--weight", "0.5", "--control", "pose.png"], "must follow the --control"),
    (["-p", "x", "-e", "test-endpoint", "--control", "pose.png", "--weight", "1.5"], "from 0 to 1"),
    (["-p", "x", "-e", "test-endpoint", "--control", "pose.png", "--weight", "-0.1"], "from 0 to 1"),
    (["-p", "x", "-e", "test-endpoint", "--control", "pose.png", "--weight", "nan"], "from 0 to 1"),
    (["-p", "x", "-e", "test-endpoint", "--control", "pose.png", "--weight", "x"], "not a number"),
    (["-p", "x", "-e", "test-endpoint", "--control", "pose.png", "--weight", "0.5", "--weight", "0.7"],
     "two --weight values"),
    (["-p", "x", "-e", "test-endpoint", "--count", "0"], "--count"),
    (["-p", "x", "-e", "test-endpoint", "--concurrency", "0"], "--concurrency"),
    (["-p", "x", "-e", "test-endpoint", "--read-timeout", "inf"], "--read-timeout"),
    (["-e", "test-endpoint"], "--prompt is required"),
    (["-p", "x"], "--endpoint-id is required"),
    (["-p", "x", "-e", "test-endpoint", "--control", "missing.png"], "cannot read"),
    (["-p", "x", "-e", "test-endpoint", "--steps", "99"], "num_inference_steps"),
    (["-p", "x", "-e", "test-endpoint", "--seed", "4294967294", "--count", "3"], "seed"),
    (["-p", "x", "--container", "--base-url", "{base}", "--format", "png"], "response_format"),
    (["-p", "x", "-e", "test-endpoint", "pose.png"], "unrecognized arguments"),
])
def test_usage_errors_exit_2_before_anything_is_sent(gen, env, emulator, tmp_path, monkeypatch, capsys, argv, words):
    monkeypatch.chdir(tmp_path)
    control(tmp_path, "pose.png")
    try:
        result = gen.main([a.replace("{base}", emulator.base_url) for a in argv])
    except SystemExit as exit_:  # argparse's usage errors
        result = exit_.code
    err = capsys.readouterr().err
    assert result == 2 and words in err and TOKEN not in err
    assert emulator.requests == [] and not list(tmp_path.glob("generated*"))


def test_request_failure_exit_1(gen, env, emulator, capsys):
    assert gen.main(["-p", "x", "-e", "unknown-endpoint"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("friendli-generate: FriendliNotFoundError") and TOKEN not in err


def test_missing_token_exit_2_before_sending(gen, tmp_path, capsys, emulator):
    assert gen.main(["-p", "x", "-e", "test-endpoint", "--base-url", emulator.base_url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("friendli-generate: error:") and "FRIENDLI_TOKEN" in err and emulator.requests == []


def test_unwritable_out_is_one_line_and_exit_1(gen, env, emulator, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = gen.main(["-p", "x", "-e", "test-endpoint", "--out", str(blocker / "sub" / "out.png")])
    err = capsys.readouterr().err
    assert code == 1 and "could not write" in err and "Traceback" not in err


def test_version_names_the_command(gen, capsys):
    with pytest.raises(SystemExit) as info:
        gen.main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.startswith("friendli-generate ")


def test_package_exposes_both_commands(pack):
    cli = importlib.import_module(pack.__name__ + ".cli")
    assert callable(cli.main) and callable(cli.generate_main)
