"""Issue 18: text to image, with and without control images, for both services, through the client
and the FriendliImageGenerate node — bodies checked against the vendor's own models."""

from __future__ import annotations

import asyncio
import importlib

import numpy as np
import pytest
import torch

from helpers import TOKEN, check_model, photo

sdk = pytest.importorskip("friendli.core.models", reason="the test extra's friendli==0.16.5 checks bodies")


@pytest.fixture
def generate(pack):
    return importlib.import_module(pack.__name__ + ".nodes.generate")


def run_generate(generate, prompt="a red fox in snow", **kw):
    args = dict(endpoint_id="test-endpoint", num_inference_steps=20, guidance_scale=-1.0, seed=7,
                response_format="png") | kw
    return asyncio.run(generate.FriendliImageGenerate().generate(prompt, **args))


@pytest.mark.parametrize("service", ["dedicated", "container"])
def test_the_client_generates_with_and_without_control_images(client_pkg, emulator, service):
    fmt = "png" if service == "dedicated" else "jpeg"
    with client_pkg.FriendliImageClient(service=service, token=TOKEN, base_url=emulator.base_url) as client:
        plain, = client.generate("a lighthouse", endpoint_id="test-endpoint", seed=3, response_format=fmt)
        guided, = client.generate("a lighthouse", endpoint_id="test-endpoint", seed=3, response_format=fmt,
                                  control_images=[photo(64, 48)], controlnet_weights=[0.5])
    assert plain.image.shape == (512, 512, 3) and guided.image.shape == (48, 64, 3)
    paths = [r.path for r in emulator.requests]
    assert paths == [("/dedicated" if service == "dedicated" else "") + "/v1/images/generations"] * 2
    model = "DedicatedImageGenerationBody" if service == "dedicated" else "ContainerImageGenerationBody"
    first, second = (check_model(sdk, model, r.body) for r in emulator.requests)
    assert emulator.requests[0].body.get("control_images") is None and second.controlnet_weights == [0.5]
    assert second.control_images[0].image.startswith("data:image/png;base64,")
    if service == "dedicated":
        assert first.model == "test-endpoint" and first.seed == 3 and plain.seed == 3


def test_edit_bodies_are_still_edit_bodies(client_pkg, emulator):
    with client_pkg.FriendliImageClient(token=TOKEN, base_url=emulator.base_url) as client:
        client.edit(photo(8, 8), "x", endpoint_id="test-endpoint", seed=1)
    check_model(sdk, "DedicatedImageEditBody", emulator.requests[0].body)
    assert emulator.requests[0].path == "/dedicated/v1/images/edits"


@pytest.mark.parametrize("weights,field", [([1.5], "controlnet_weights"), ([-0.1], "controlnet_weights"),
                                           ([0.5, 0.5], "controlnet_weights"), ([True], "controlnet_weights")])
def test_bad_weights_are_refused_before_sending(client_pkg, emulator, weights, field):
    with client_pkg.FriendliImageClient(token=TOKEN, base_url=emulator.base_url) as client:
        with pytest.raises(client_pkg.FriendliInputError, match=field):
            client.generate("x", endpoint_id="test-endpoint", control_images=[photo(8, 8)],
                            controlnet_weights=weights)
        with pytest.raises(client_pkg.FriendliInputError, match="controlnet_weights"):  # a weight, no image
            client.generate("x", endpoint_id="test-endpoint", controlnet_weights=[0.5])
        with pytest.raises(client_pkg.FriendliInputError, match="prompt: is empty; describe the image you want"):
            client.generate(" ", endpoint_id="test-endpoint")
        with pytest.raises(client_pkg.FriendliInputError, match="control_images: must be a list"):
            client.generate("x", endpoint_id="test-endpoint", control_images=photo(8, 8))
    assert emulator.requests == []


def test_the_node_gives_count_images_with_seed_plus_i(generate, online):
    out, seeds = run_generate(generate, count=3, seed=41)
    assert tuple(out.shape) == (3, 512, 512, 3) and out.dtype == torch.float32
    assert seeds == "41, 42, 43" and sorted(r.body["seed"] for r in online.requests) == [41, 42, 43]
    assert not torch.equal(out[0], out[1])  # the stand-in derives the picture from the seed


def test_the_node_sends_its_control_images_and_weights(generate, online):
    pose, depth = torch.rand(1, 40, 56, 3), torch.rand(2, 40, 56, 3)
    out, _ = run_generate(generate, count=2, control_image_1=pose, control_weight_1=0.25,
                          control_image_3=depth, control_weight_3=0.75)
    assert tuple(out.shape) == (2, 40, 56, 3)
    for request in online.requests:
        body = check_model(sdk, "DedicatedImageGenerationBody", request.body)
        assert body.controlnet_weights == [0.25, 0.75] and len(body.control_images) == 2
    first, second = sorted(online.requests, key=lambda r: r.body["seed"])
    assert first.body["control_images"][0] == second.body["control_images"][0]  # one pose for both
    assert first.body["control_images"][1] != second.body["control_images"][1]  # depth image i for request i


@pytest.mark.parametrize("kw,field", [({"control_weight_2": 0.5}, "control_weight_2"),
                                      ({"control_weight_1": 1.5, "control_image_1": torch.rand(1, 8, 8, 3)},
                                       "control_weight_1"),
                                      ({"count": 17}, "count"), ({"count": 0}, "count"),
                                      ({"on_failure": "keep original"}, "on_failure")])
def test_bad_node_inputs_name_the_field_and_send_nothing(generate, online, client_pkg, kw, field):
    with pytest.raises(client_pkg.FriendliInputError, match=field):
        run_generate(generate, **kw)
    assert online.requests == []


def test_a_rerun_is_answered_from_the_store(generate, online, pack):
    prefs = importlib.import_module(pack.__name__ + ".client.prefs")
    prefs.write(prefs.validate({"result_store": True}), prefs.default_path())
    first, _ = run_generate(generate, count=2)
    again, seeds = run_generate(generate, count=2)
    assert len(online.requests) == 2 and torch.equal(first, again) and seeds == "7, 8"


def test_skip_failed_returns_the_images_that_succeeded(generate, online):
    online.fault("status", status=422, body={"detail": "unsafe prompt"})
    out, seeds = run_generate(generate, count=3, max_concurrency=1, on_failure="skip failed")
    assert out.shape[0] == 2 and len(seeds.split(", ")) == 2


def test_the_generate_node_checks_its_setup_when_queued(generate):
    check = generate.FriendliImageGenerate.VALIDATE_INPUTS
    assert check(endpoint_id="").startswith("endpoint_id: is empty")  # the prompt: see test_feedback.py


def test_the_generate_node_is_registered_and_woken_for(pack):
    wake = importlib.import_module(pack.__name__ + ".nodes.wake")
    assert pack.NODE_DISPLAY_NAME_MAPPINGS["FriendliImageGenerate"] == "Friendli Image Generate"
    assert "FriendliImageGenerate" in wake.EDIT_NODES
    types = pack.NODE_CLASS_MAPPINGS["FriendliImageGenerate"].INPUT_TYPES()
    assert list(types["required"]) == ["prompt", "endpoint_id", "num_inference_steps", "guidance_scale", "seed",
                                       "response_format"]
    assert np.all([f"control_image_{n}" in types["optional"] for n in range(1, 5)])


def test_generated_images_are_previewed(generate, online, fake_host):
    run_generate(generate, count=2, max_concurrency=1, unique_id="5")
    assert 1 <= len(fake_host.previews) <= 2 and fake_host.previews[-1][2][0] == "JPEG"
