"""FriendliImageEdit on real tensors against the emulator over loopback."""

from __future__ import annotations

import asyncio
import base64
import importlib
import io
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import TOKEN, batch, photo, run_edit
from packloader import child_code

FORMATS = ["png", "jpeg", "jpg", "raw", "url"]


def sent_image(request) -> np.ndarray:
    """The pixels of the image a recorded request carried."""
    uri = request.body["image"]["image"]
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.partition(",")[2]))))


@pytest.mark.parametrize("n", [1, 4])
def test_batch_gives_one_request_per_image_in_order_with_distinct_seeds(nodes, online, n):
    image = batch(n)
    out, seeds = run_edit(nodes, image, seed=41)
    assert out.shape == image.shape and out.dtype == torch.float32 and out.device.type == "cpu"
    assert 0 <= out.min() and out.max() <= 1
    assert len(online.requests) == n
    assert sorted(r.body["seed"] for r in online.requests) == list(range(41, 41 + n))
    assert seeds == ", ".join(str(41 + i) for i in range(n))
    for request in online.requests:  # every image was sent, rounded to uint8, as RGB
        i = request.body["seed"] - 41
        assert np.array_equal(sent_image(request), photo(48, 32, 3, seed=i))
        assert request.body["model"] == "test-endpoint" and request.body["guidance_scale"] is None
    if n > 1:
        assert not torch.equal(out[0], out[1])


def test_same_seed_gives_identical_pixels_and_seeds_wrap(nodes, online):
    image = batch(2)
    first, _ = run_edit(nodes, image, seed=0xFFFFFFFF)
    second, seeds = run_edit(nodes, image, seed=0xFFFFFFFF)
    assert torch.equal(first, second)
    assert seeds == "4294967295, 0"


def test_rounding_not_truncation(nodes, online):
    image = torch.full((1, 8, 8, 3), 0.999)  # 254.745 -> 255, truncation would give 254
    run_edit(nodes, image)
    assert sent_image(online.requests[0]).min() == 255


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_response_format(nodes, online, fmt):
    out, seeds = run_edit(nodes, batch(2), response_format=fmt, num_inference_steps=3, guidance_scale=4.5)
    assert out.shape == (2, 32, 48, 3)
    assert all(r.body["response_format"] == fmt and r.body["guidance_scale"] == 4.5
               and r.body["num_inference_steps"] == 3 for r in online.requests)
    assert seeds == "7, 8"
    if fmt == "url":
        assert len(online.file_requests) == 2
        assert all(r.header("Authorization") is None for r in online.file_requests)


def test_png_result_is_exact(nodes, online):
    """A png result arrives bit-exact: the node's output equals the emulator's image / 255."""
    emulator_module = __import__(type(online).__module__, fromlist=["stand_in_edit"])
    out, _ = run_edit(nodes, batch(1), seed=3)
    expected = emulator_module.stand_in_edit([Image.fromarray(photo(48, 32, 3, seed=0))], "make it blue", 3, 20, None)
    assert torch.equal(out[0], torch.from_numpy(np.array(expected)).float() / 255)


@pytest.mark.parametrize("fmt", ["jpeg", "raw"])
def test_container_service(nodes, online, fmt):
    endpoint = nodes.endpoint.FriendliEndpoint().build("container", "", "", online.base_url, "")[0]
    out, seeds = run_edit(nodes, batch(2), endpoint=endpoint, response_format=fmt, seed=5)
    assert out.shape == (2, 32, 48, 3)
    assert seeds == "5, 6"  # the container reports no seed: the seeds sent
    assert all(r.path == "/v1/images/edits" and r.header("Authorization") is None for r in online.requests)
    assert all("guidance_scale" not in r.body and "model" not in r.body for r in online.requests)


@pytest.mark.parametrize("fmt", ["png", "jpg", "url"])
def test_container_rejects_dedicated_only_formats_before_sending(nodes, online, fmt):
    endpoint = nodes.endpoint.FriendliEndpoint().build("container", "", "", online.base_url, "")[0]
    with pytest.raises(ValueError, match=r"response_format.*jpeg, raw"):
        run_edit(nodes, batch(1), endpoint=endpoint, response_format=fmt)
    assert online.requests == []


@pytest.mark.parametrize("mode", ["match input", "endpoint size"])
def test_endpoint_answers_with_another_size(nodes, online, mode):
    online.output_size = (64, 40)  # (w, h)
    out, _ = run_edit(nodes, batch(3), output_size=mode)
    assert out.shape == ((3, 32, 48, 3) if mode == "match input" else (3, 40, 64, 3))


@pytest.mark.parametrize("channels", [1, 4])
def test_channels_are_restored(nodes, online, channels):
    image = batch(2, channels=channels)
    out, _ = run_edit(nodes, image)
    assert out.shape == image.shape
    assert sent_image(online.requests[0]).shape == (32, 48, 3)
    if channels == 4:
        assert torch.equal(out[..., 3], image[..., 3])  # alpha back, exactly
    online.reset()
    online.output_size = (96, 64)
    out, _ = run_edit(nodes, image, output_size="endpoint size")
    assert out.shape == (2, 64, 96, channels)
    if channels == 4:  # alpha resized with the result
        assert abs(out[0, ..., 3].mean() - image[0, ..., 3].mean()) < 0.01


# One worker and the fault on the last image: no abandoned request can reach the next test's emulator.
def test_failing_image_is_named(nodes, online):
    online.fault("latency", seconds=0.2)  # image 1 is slow but fine, image 2 fails with a 422
    online.fault("status", status=422, body={"detail": "prompt is not allowed"})
    with pytest.raises(Exception, match=r"image 2 of 2 failed: .*prompt is not allowed"):
        run_edit(nodes, batch(2), max_concurrency=1)


def test_corrupt_result_is_named(nodes, online):
    online.fault("latency", seconds=0)
    online.fault("bad_base64")
    with pytest.raises(Exception, match=r"image 2 of 2 failed: .*not a PNG, JPEG or WebP"):
        run_edit(nodes, batch(2), max_concurrency=1)


def test_missing_token_says_both_ways(nodes, emulator, monkeypatch):
    monkeypatch.setenv("FRIENDLI_BASE_URL", emulator.base_url)
    with pytest.raises(Exception, match=r"FRIENDLI_TOKEN.*Settings > Friendli") as info:
        run_edit(nodes, batch(1))
    assert "Unauthorized: Please login first" not in str(info.value)
    assert emulator.requests == []


def test_token_is_read_from_the_credentials_file(nodes, online, monkeypatch, tmp_path, client_pkg):
    monkeypatch.delenv("FRIENDLI_TOKEN")
    path = tmp_path / "creds.json"
    client_pkg.config.write_credentials(TOKEN, path=path)
    monkeypatch.setenv("FRIENDLI_CREDENTIALS_FILE", str(path))
    run_edit(nodes, batch(1))
    assert online.requests[0].header("Authorization") == f"Bearer {TOKEN}"


def trust(pack, *hosts: str) -> None:
    """Add hosts to Settings > Friendli > Trusted hosts (the preferences file beside the credentials)."""
    prefs = importlib.import_module(pack.__name__ + ".client.prefs")
    prefs.write(prefs.validate({"trusted_hosts": list(hosts)}, prefs.read()), prefs.default_path())


def test_workflow_base_url_gets_the_key_only_when_trusted(nodes, online, monkeypatch, pack, client_pkg):
    monkeypatch.delenv("FRIENDLI_BASE_URL")  # the emulator is now only named by the workflow
    with pytest.raises(client_pkg.FriendliConfigError, match="base_url: .*Trusted hosts"):  # the node says so
        nodes.endpoint.FriendliEndpoint().build("dedicated", "test-endpoint", "", online.base_url, "")
    endpoint = nodes.endpoint.Endpoint("dedicated", "test-endpoint", "", online.base_url, "")
    with pytest.raises(client_pkg.FriendliConfigError, match="Trusted hosts") as info:  # and so does the run
        run_edit(nodes, batch(2), endpoint=endpoint)
    assert online.base_url.split("//")[1] in str(info.value) and online.requests == []
    trust(pack, online.base_url.split("//")[1])
    run_edit(nodes, batch(1), endpoint=endpoint)
    assert online.requests[0].header("Authorization") == f"Bearer {TOKEN}"


def test_endpoint_node_overrides_widgets(nodes, online, monkeypatch, pack):
    monkeypatch.delenv("FRIENDLI_BASE_URL")
    trust(pack, online.base_url.split("//")[1])
    endpoint = nodes.endpoint.FriendliEndpoint().build("dedicated", "test-endpoint", "lora-1", online.base_url,
                                                       "team-9")[0]
    run_edit(nodes, batch(1), endpoint_id="widget-endpoint", adapter_route="widget-route", endpoint=endpoint)
    request = online.requests[0]
    assert request.body["model"] == "test-endpoint:lora-1" and request.header("X-Friendli-Team") == "team-9"
    online.reset()
    empty = nodes.endpoint.FriendliEndpoint().build("dedicated", "", "", online.base_url, "")[0]
    run_edit(nodes, batch(1), adapter_route="mine", endpoint=empty)  # its empty ids keep the widgets
    assert online.requests[0].body["model"] == "test-endpoint:mine"
    assert TOKEN not in repr(endpoint) and "token" not in endpoint.__dataclass_fields__


def test_node_definitions_follow_the_conventions(pack):
    names = pack.NODE_DISPLAY_NAME_MAPPINGS
    assert set(pack.NODE_CLASS_MAPPINGS) == {"FriendliImageEdit", "FriendliMultiImageEdit", "FriendliImageGenerate",
                                             "FriendliEndpoint"}
    for name, cls in pack.NODE_CLASS_MAPPINGS.items():
        assert cls.CATEGORY == "Friendli" and cls.DESCRIPTION and names[name].startswith("Friendli ")
        assert len(cls.RETURN_NAMES) == len(cls.RETURN_TYPES) == len(cls.OUTPUT_TOOLTIPS)
        assert not getattr(cls, "API_NODE", False) and not hasattr(cls, "IS_CHANGED")
        types = cls.INPUT_TYPES()
        for section in ("required", "optional"):
            for key, spec in types.get(section, {}).items():
                assert spec[1].get("tooltip"), f"{name}.{key} has no tooltip"
        assert not any("token" in key.lower() for s in types.values() for key in s)
    edit = pack.NODE_CLASS_MAPPINGS["FriendliImageEdit"].INPUT_TYPES()
    assert list(edit["required"]) == ["image", "prompt", "endpoint_id", "num_inference_steps", "guidance_scale",
                                      "seed", "response_format"]
    assert list(edit["optional"]) == ["adapter_route", "mask", "endpoint", "output_size", "max_concurrency",
                                      "on_failure", "mask_mode", "crop_context", "crop_megapixels",
                                      "max_send_megapixels"]  # new widgets only ever appended: saved workflows load
    assert edit["hidden"] == {"unique_id": "UNIQUE_ID"}
    assert edit["required"]["seed"][1]["control_after_generate"] is True
    assert edit["required"]["response_format"][0] == FORMATS


def test_nodes_import_and_declare_inputs_without_torch():
    code = ("import sys\n"
            "sys.modules['torch'] = None  # any 'import torch' now fails\n"
            + child_code("m") +
            "print(sorted(len(c.INPUT_TYPES()['required']) for c in m.NODE_CLASS_MAPPINGS.values()))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[5, 6, 7, 7]"  # endpoint, generate, the two edits


def test_prompt_dict_holds_no_token(nodes, online):
    """An API-format prompt with every widget filled in, run for real, holds no key anywhere."""
    prompt = {
        "1": {"class_type": "FriendliEndpoint", "inputs": {"service": "dedicated", "endpoint_id": "test-endpoint",
                                                           "adapter_route": "", "base_url": online.base_url,
                                                           "team": ""}},
        "2": {"class_type": "FriendliImageEdit", "inputs": {
            "image": ["0", 0], "prompt": "make it blue", "endpoint_id": "", "num_inference_steps": 20,
            "guidance_scale": -1.0, "seed": 1, "response_format": "png", "adapter_route": "",
            "endpoint": ["1", 0], "output_size": "match input", "max_concurrency": 4}},
    }
    endpoint = nodes.endpoint.FriendliEndpoint().build(**prompt["1"]["inputs"])[0]
    inputs = {k: v for k, v in prompt["2"]["inputs"].items() if k not in ("image", "endpoint")}
    out, seeds, _ = asyncio.run(nodes.edit.FriendliImageEdit().edit(batch(1), endpoint=endpoint, unique_id="2", **inputs))
    assert TOKEN not in json.dumps(prompt) + repr(endpoint) + seeds


def test_a_run_that_fails_its_checks_closes_its_client(nodes, online, monkeypatch, client_pkg):
    closed = []
    real_close = nodes.run.FriendliImageClient.close
    monkeypatch.setattr(nodes.run.FriendliImageClient, "close", lambda self: (closed.append(1), real_close(self)))
    monkeypatch.delenv("FRIENDLI_TOKEN")  # the most common user error: no key
    with pytest.raises(client_pkg.FriendliConfigError):
        run_edit(nodes, batch(1))
    monkeypatch.setenv("FRIENDLI_TOKEN", TOKEN)
    with pytest.raises(client_pkg.FriendliInputError):
        run_edit(nodes, batch(1), prompt="  ")
    assert len(closed) == 2 and online.requests == []
