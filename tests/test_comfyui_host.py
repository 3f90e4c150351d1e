"""Opt-in: the pack inside a real ComfyUI, driven over HTTP and the websocket, against the emulator.

Runs only when COMFYUI_PATH points at a ComfyUI checkout; COMFYUI_PYTHON is the interpreter that
has ComfyUI's requirements (default: this one). Example:
  COMFYUI_PATH=/work/comfyui COMFYUI_PYTHON=/work/venv-comfy/bin/python pytest tests/test_comfyui_host.py
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from PIL import Image

from comfyui_process import COMFYUI_PATH, HEIGHT, SKIP_REASON, WIDTH, Host, host_version, running_host
from helpers import ROOT, TOKEN, photo, workflow_to_prompt

pytestmark = pytest.mark.skipif(not (COMFYUI_PATH and (Path(COMFYUI_PATH) / "main.py").is_file()),
                                reason=SKIP_REASON)
aiohttp = pytest.importorskip("aiohttp")


@pytest.fixture(scope="module")
def comfy(tmp_path_factory, _emulator_server):
    """ComfyUI started with --base-directory holding only our pack (symlinked) and an example.png."""
    with running_host(tmp_path_factory.mktemp("comfy"), _emulator_server.base_url) as host:
        yield host


def edit_prompt(**edit_inputs) -> dict:
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
        "2": {"class_type": "FriendliImageEdit", "inputs": {
            "image": ["1", 0], "prompt": "make it night", "endpoint_id": "test-endpoint", "num_inference_steps": 20,
            "guidance_scale": -1.0, "seed": 5, "response_format": "png"} | edit_inputs},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "friendli"}},
    }


def saved_images(host: Host, result: dict, node: str = "3") -> list[Image.Image]:
    files = result["history"]["outputs"][node]["images"]  # type: output (Save Image) or temp (Preview Image)
    return [Image.open(host.base / f["type"] / f["subfolder"] / f["filename"]) for f in files]


def without_previews(result: dict) -> str:
    """The run's result as JSON text, its binary preview frames left out (to search it for the key)."""
    return json.dumps({k: v for k, v in result.items() if k != "previews"})


NODES = ("FriendliImageEdit", "FriendliMultiImageEdit", "FriendliImageGenerate", "FriendliEndpoint")


def test_pack_loads_with_its_nodes(comfy):
    info = comfy.object_info()
    for name in NODES:
        assert info[name]["category"] == "Friendli", name
    assert info["FriendliImageEdit"]["output_name"] == ["image", "seeds", "failed"]
    generate = info["FriendliImageGenerate"]  # text in (control images optional), images and seeds out
    assert generate["output_name"] == ["image", "seeds"] and generate["output"] == ["IMAGE", "STRING"]
    assert "image" not in generate["input"]["required"] and "control_image_1" in generate["input"]["optional"]
    log = comfy.log.read_text()
    [line] = [l for l in log.splitlines() if l.endswith("custom_nodes/comfyui-friendli")]  # the import-times line
    assert "IMPORT FAILED" not in line and "comfyui-friendli module for custom nodes" not in log
    for name in NODES:  # the help pages (web/docs/<node>.md)
        status, body = comfy.get(f"/extensions/comfyui-friendli/docs/{name}.md")
        assert status == 200 and body.startswith(b"# Friendli")
    status, body = comfy.get("/api/workflow_templates")
    assert status == 200 and "Friendli - Masked batch edit" in json.loads(body)["comfyui-friendli"]
    for name in json.loads(body)["comfyui-friendli"]:  # the thumbnail the template browser asks for
        status, jpeg = comfy.get(f"/api/workflow_templates/comfyui-friendli/{quote(name)}.jpg")
        assert status == 200 and jpeg.startswith(b"\xff\xd8"), name


def test_object_info_lists_the_search_aliases_of_the_run_nodes(comfy, pack):
    """ComfyUI 0.33 serves SEARCH_ALIASES as search_aliases (0.3.x does not: skipped there); no node is an
    API node (that would turn Run into 'Sign in to run')."""
    info = comfy.object_info()
    if "search_aliases" not in info["FriendliImageEdit"]:
        pytest.skip(f"ComfyUI {'.'.join(map(str, host_version()))} reports no search_aliases in /object_info")
    for name in ("FriendliImageEdit", "FriendliMultiImageEdit", "FriendliImageGenerate"):
        assert info[name]["search_aliases"] == pack.NODE_CLASS_MAPPINGS[name].SEARCH_ALIASES != [], name
    for name in NODES:
        assert not info[name].get("api_node"), name


def test_single_edit_through_prompt_with_progress_and_no_token_in_the_png(comfy, emulator):
    workflow = json.loads((ROOT / "example_workflows" / "Friendli - Edit an image.json").read_text())
    emulator.latency = 0.05  # measurable: the ETA and endpoint time are rounded to 0.01 s
    result = comfy.run(edit_prompt(), workflow=workflow)
    assert result["history"]["status"]["status_str"] == "success"
    [png] = saved_images(comfy, result)
    assert png.size == (WIDTH, HEIGHT)
    metadata = json.dumps(png.info)
    assert "make it night" in metadata and workflow["id"] in metadata  # prompt and workflow are stored...
    assert TOKEN not in metadata and TOKEN not in without_previews(result)  # ...the key is not
    assert len(emulator.requests) == 1 and emulator.requests[0].body["seed"] == 5
    events = [m["data"] for m in result["messages"] if m.get("type") == "friendli.progress"]
    assert events[0]["state"] == "running" and events[-1] | {"elapsed": 0, "endpoint_s": 0, "eta": 0, "eta_p90": 0} == {
        "node": "2", "state": "done", "done": 1, "total": 1, "elapsed": 0, "retries": 0, "waking": False, "seeds": [5],
        "reused": 0, "throttled": None, "retry": None, "advisory": None, "eta": 0, "eta_p90": 0, "at_endpoint": None,
        "endpoint_s": 0, "cost": None, "limit": None, "stored": False}
    assert 0 < events[-1]["eta"] <= events[-1]["eta_p90"]  # its own answer time, for the next run
    assert 0 < events[-1]["endpoint_s"] <= events[-1]["elapsed"]
    assert not [m for m in result["messages"] if m.get("type") == "progress_text"]  # the extension draws it
    assert any(m.get("type") == "progress" and m["data"]["node"] == "2" for m in result["messages"])


PREVIEW_BATCH, SCALE = 4, 8  # 768 x 512 images: the previews must come out smaller (<= 512 px)


def host_sends_preview_metadata() -> bool:
    """Whether this ComfyUI sends previews with their node id (kind 4) to a client that asks for it."""
    flags = Path(COMFYUI_PATH) / "comfy_api" / "feature_flags.py"
    return flags.is_file() and "supports_preview_metadata" in flags.read_text()


@pytest.mark.parametrize("metadata", [True, False], ids=["client-asks-metadata", "plain-client"])
def test_batch_previews_arrive_over_the_websocket(comfy, emulator, metadata):
    """Issue 19: every finished image of a batch may show on the node as a preview, as it lands: binary
    preview frames for the Friendli node, at least one and at most one per image, each a JPEG <= 512 px
    showing one of the results. The frontend announces supports_preview_metadata; ComfyUI >= 0.3.46 then sends
    kind 4 frames naming the node, older hosts (and any host to a client that does not ask) kind 1 frames
    with no node id, right after the "progress" message of the node whose ProgressBar sent it."""
    emulator.latency = 0.5
    prompt = edit_prompt(max_concurrency=1, seed=600 + metadata)  # not the other case's (ComfyUI's cache)
    prompt["4"] = {"class_type": "ImageScaleBy", "inputs": {"image": ["1", 0], "upscale_method": "nearest-exact",
                                                            "scale_by": float(SCALE)}}
    prompt["5"] = {"class_type": "RepeatImageBatch", "inputs": {"image": ["4", 0], "amount": PREVIEW_BATCH}}
    prompt["2"]["inputs"]["image"] = ["5", 0]
    result = comfy.run(prompt, features={"supports_preview_metadata": True} if metadata else {})
    assert result["messages"][-1]["type"] == "execution_success", result["messages"][-3:]
    outputs = saved_images(comfy, result)
    assert len(outputs) == PREVIEW_BATCH and outputs[0].size == (WIDTH * SCALE, HEIGHT * SCALE)
    assert len(emulator.requests) == PREVIEW_BATCH  # the node ran (not answered from ComfyUI's cache)
    previews = result["previews"]
    kinds = [p["kind"] for p in previews]
    print(f"\nComfyUI {'.'.join(map(str, host_version()))}: {len(previews)} previews for {PREVIEW_BATCH} images, "
          f"kinds {kinds}, nodes {[p['node'] or p['after_progress_of'] for p in previews]}, "
          f"sizes {[Image.open(io.BytesIO(p['image'])).size for p in previews]}")
    assert 1 <= len(previews) <= PREVIEW_BATCH, kinds
    if metadata and host_sends_preview_metadata():
        assert set(kinds) == {4}, kinds
        for frame in previews:
            assert frame["node"] == "2" and frame["metadata"]["display_node_id"] == "2", frame["metadata"]
            assert frame["metadata"]["prompt_id"] == result["messages"][-1]["data"]["prompt_id"]
    else:  # no node id in the frame: the host's hook sends the node's "progress" message just before it
        assert set(kinds) == {1}, kinds
        assert [p["after_progress_of"] for p in previews] == ["2"] * len(previews), previews
    input_picture = Image.fromarray(photo(WIDTH, HEIGHT))
    for frame in previews:
        assert frame["mime"] == "image/jpeg"
        picture = Image.open(io.BytesIO(frame["image"]))
        assert picture.format == "JPEG" and max(picture.size) == 512, picture.size  # made smaller, to 512
        seen = np.asarray(picture.convert("RGB")).astype(float)

        def distance(image: Image.Image) -> float:
            return float(np.abs(np.asarray(image.convert("RGB").resize(picture.size, Image.Resampling.BICUBIC))
                                .astype(float) - seen).mean())
        closest = min(distance(img) for img in outputs)
        assert closest < 6 and closest < distance(input_picture) / 2, (closest, distance(input_picture))
    # as the images land, not at the end: the first preview came while the last request was still to be sent
    last_sent = max(r.time for r in emulator.requests)
    assert previews[0]["time"] < last_sent, (previews[0]["time"], last_sent)


@pytest.mark.parametrize("path", sorted((ROOT / "example_workflows").glob("*.json")), ids=lambda p: p.stem)
def test_example_workflows_convert_and_run(comfy, emulator, path):
    workflow = json.loads(path.read_text())
    info = comfy.object_info()
    prompt = workflow_to_prompt(workflow, {name: node["input"] for name, node in info.items()})
    for node in prompt.values():
        if node["class_type"] in ("FriendliImageEdit", "FriendliMultiImageEdit", "FriendliImageGenerate"):
            node["inputs"]["endpoint_id"] = "test-endpoint"  # the examples leave it to the user
    result = comfy.run(prompt, workflow=workflow)
    assert result["history"]["status"]["status_str"] == "success", result["messages"][-1]
    previews = {prompt[n["inputs"]["images"][0]]["class_type"]: i for i, n in prompt.items()
                if n["class_type"] == "PreviewImage"}  # by the node that feeds each Preview Image
    save = previews.get("FriendliImageEdit") or previews["FriendliMultiImageEdit"]
    images = saved_images(comfy, result, save)
    if path.stem == "Friendli - Generate then edit":  # text -> generation -> local upscale -> edit
        generate_id = prompt[previews["FriendliImageGenerate"]]["inputs"]["images"][0]
        [generated] = saved_images(comfy, result, previews["FriendliImageGenerate"])
        [scale] = [n["inputs"]["scale_by"] for n in prompt.values() if n["class_type"] == "ImageScaleBy"]
        [edited] = images
        assert edited.size == tuple(round(side * scale) for side in generated.size)  # the edit got the upscaled one
        [generation] = emulator.generation_requests
        [edit] = [r for r in emulator.requests if r is not generation]
        assert generation.body["prompt"] == prompt[generate_id]["inputs"]["prompt"]
        assert not generation.body.get("control_images")  # text only
        assert edit.path.endswith("/images/edits") and edit.body["prompt"] == prompt[
            prompt[save]["inputs"]["images"][0]]["inputs"]["prompt"]
    else:
        assert all(img.size == (WIDTH, HEIGHT) for img in images)
    if path.stem == "Friendli - Masked batch edit":
        assert len(images) == 4 and len(emulator.requests) == 4
        original = photo(WIDTH, HEIGHT).astype(int)
        for img in images:  # left half kept (up to PreviewImage's own float->uint8), right half edited
            pixels = np.asarray(img.convert("RGB")).astype(int)
            assert np.abs(pixels[:, :WIDTH // 2 - 1] - original[:, :WIDTH // 2 - 1]).max() <= 1
            assert np.abs(pixels[:, WIDTH // 2 + 1:] - original[:, WIDTH // 2 + 1:]).mean() > 5


def test_interrupt_stops_within_a_second(comfy, emulator):
    emulator.latency = 5.0
    prompt = edit_prompt(max_concurrency=2)
    prompt["4"] = {"class_type": "RepeatImageBatch", "inputs": {"image": ["1", 0], "amount": 6}}
    prompt["2"]["inputs"]["image"] = ["4", 0]

    async def interrupt(http):
        for _ in range(400):  # a host that never sends (a broken node) fails the test instead of hanging it
            if emulator.requests:
                break
            await asyncio.sleep(0.05)
        interrupted.append(time.monotonic())
        async with http.post(f"{comfy.url}/interrupt", json={}) as response:
            assert response.status == 200

    interrupted: list[float] = []  # timed from /interrupt: reaching the first request takes 10 s at load 20
    result = comfy.run(prompt, during=interrupt)
    assert result["messages"][-1]["type"] == "execution_interrupted"
    assert time.monotonic() - interrupted[0] < 3.5  # requests take 5 s each; the node returns within ~1 s
    assert len(emulator.requests) == 2
    events = [m["data"] for m in result["messages"] if m.get("type") == "friendli.progress"]
    assert events[-1]["state"] == "cancelled"


def test_failing_image_names_it_and_hides_the_token(comfy, emulator):
    emulator.fault("latency", seconds=0)
    emulator.fault("status", status=422, body={"detail": "this prompt is not allowed"})
    prompt = edit_prompt(max_concurrency=1)
    prompt["4"] = {"class_type": "RepeatImageBatch", "inputs": {"image": ["1", 0], "amount": 2}}
    prompt["2"]["inputs"]["image"] = ["4", 0]
    result = comfy.run(prompt)
    error = result["messages"][-1]
    assert error["type"] == "execution_error", error
    assert "image 2 of 2 failed" in error["data"]["exception_message"]
    assert "this prompt is not allowed" in error["data"]["exception_message"]
    assert TOKEN not in without_previews(result)


def test_setup_errors_are_found_when_the_prompt_is_queued(comfy, emulator):
    """An empty endpoint id and an empty prompt are refused by /prompt itself, in the first round (ComfyUI's own
    dialog, the node named): one error entry, on endpoint_id, one line per problem starting with its field;
    nothing runs or reaches the endpoint."""
    status, answer = comfy.post("/prompt", {"prompt": edit_prompt(endpoint_id="", prompt=" "), "client_id": "x"})
    assert status == 400, answer
    errors = answer["node_errors"]["2"]["errors"]
    assert [e["extra_info"]["input_name"] for e in errors] == ["endpoint_id"], errors
    lines = errors[0]["details"].removeprefix("endpoint_id - ").split("\n")
    assert [line.split(": ")[0] for line in lines] == ["endpoint_id", "prompt"], lines
    assert lines[0].count("is empty") == 1 and lines[1].count("is empty") == 1, lines
    status, answer = comfy.post("/prompt", {"prompt": edit_prompt(prompt=" "), "client_id": "x"})
    assert status == 400 and answer["node_errors"]["2"]["errors"][0]["details"].startswith(
        "endpoint_id - prompt: is empty"), answer
    assert emulator.requests == []


def test_retry_waits_are_not_endpoint_time_in_the_host(comfy, emulator):
    """Issue 24: answered at once after two 503s with Retry-After: 1, the progress event's endpoint seconds
    stay below 0.6 s while the run takes over 2 s."""
    emulator.fault("status", times=2, status=503, retry_after=1)
    result = comfy.run(edit_prompt(seed=24))
    events = [m["data"] for m in result["messages"] if m.get("type") == "friendli.progress"]
    print(f"\nafter two 503s with Retry-After: 1: elapsed {events[-1]['elapsed']} s, "
          f"endpoint_s {events[-1]['endpoint_s']} s, retries {events[-1]['retries']}")
    assert events[-1]["state"] == "done" and events[-1]["retries"] == 2, events[-1]
    assert events[-1]["elapsed"] >= 2 and events[-1]["endpoint_s"] < 0.6, events[-1]
    assert len(emulator.requests) == 3
