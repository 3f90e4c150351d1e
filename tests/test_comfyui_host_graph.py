"""Opt-in (COMFYUI_PATH): the pack in a real ComfyUI — remote work overlaps local work (issue 9), a queued
prompt wakes its sleeping endpoint once before the nodes run (issue 10), the locales are served (issue 12),
and a workflow naming an untrusted host never reaches it (issue 8)."""

from __future__ import annotations

import json
import time
import textwrap
from pathlib import Path

import pytest

from comfyui_process import COMFYUI_PATH, SKIP_REASON, Host, host_version, running_host
from helpers import TOKEN
from hostile import HostileServer, respond

pytestmark = pytest.mark.skipif(not (COMFYUI_PATH and (Path(COMFYUI_PATH) / "main.py").is_file()),
                                reason=SKIP_REASON)

LATENCY = 2.0
SLOW_NODE = textwrap.dedent('''
    import json
    import time
    from pathlib import Path

    TIMES = Path(__file__).with_name("times.jsonl")  # when each run held the executor (time.monotonic)

    class FriendliTestSlowLocal:
        """A local node that holds the executor (a stand-in for a sampler) for `seconds`."""
        CATEGORY = "testing"
        RETURN_TYPES = ("IMAGE",)
        FUNCTION = "run"

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"image": ("IMAGE",), "seconds": ("FLOAT", {"default": 1.0})}}

        def run(self, image, seconds):
            start = time.monotonic()
            time.sleep(seconds)
            with TIMES.open("a") as out:
                out.write(json.dumps({"start": start, "end": time.monotonic()}) + "\\n")
            return (image,)

    NODE_CLASS_MAPPINGS = {"FriendliTestSlowLocal": FriendliTestSlowLocal}
''')


@pytest.fixture(scope="module")
def comfy(tmp_path_factory, _emulator_server):
    """ComfyUI with our pack and a slow local test node."""
    with running_host(tmp_path_factory.mktemp("comfy-graph"), _emulator_server.base_url,
                      {"slow_local": SLOW_NODE}) as host:
        yield host


def local_runs(host: Host) -> list[dict]:
    """The slow local node's runs since the last call: {"start", "end"} in time.monotonic (the emulator's clock)."""
    times = host.base / "custom_nodes" / "slow_local" / "times.jsonl"
    runs = [json.loads(line) for line in times.read_text().splitlines()] if times.exists() else []
    times.unlink(missing_ok=True)
    return runs


def friendli(image_link: list, seed: int, **extra) -> dict:
    return {"class_type": "FriendliImageEdit", "inputs": {
        "image": image_link, "prompt": "make it night", "endpoint_id": "test-endpoint", "num_inference_steps": 20,
        "guidance_scale": -1.0, "seed": seed, "response_format": "png"} | extra}


def save(link: list, prefix: str) -> dict:
    return {"class_type": "SaveImage", "inputs": {"images": link, "filename_prefix": prefix}}


def test_two_remote_branches_overlap_a_local_one(comfy, emulator):
    if host_version() < (0, 3, 45):
        pytest.skip("ComfyUI before 0.3.45 runs every node one after another (the edit nodes run synchronously there)")
    emulator.latency = LATENCY
    local_runs(comfy)
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
        "2": friendli(["1", 0], 101), "3": save(["2", 0], "a"),
        "4": friendli(["1", 0], 202), "5": save(["4", 0], "b"),
        "6": {"class_type": "FriendliTestSlowLocal", "inputs": {"image": ["1", 0], "seconds": LATENCY}},
        "7": save(["6", 0], "c"),
    }
    result = comfy.run(prompt, timeout=60)
    assert result["messages"][-1]["type"] == "execution_success", result["messages"][-3:]
    assert len(emulator.requests) == 2 and emulator.max_in_flight == 2  # both edits waited at once
    [local] = local_runs(comfy)
    for request in emulator.requests:  # each edit was in flight while the local node held the executor
        assert request.time < local["end"] and local["start"] < request.time + LATENCY, (request.time, local)
    # one after another would take 3 L, the edits together but the local node apart 2 L; all together about
    # one L plus the host's own work
    print(f"\nwall time {result['elapsed']:.2f} s for 2 remote + 1 local branches of {LATENCY} s each")
    assert result["elapsed"] < 0.75 * 3 * LATENCY, result["elapsed"]


def test_a_queued_prompt_wakes_its_sleeping_endpoint_once_before_the_nodes_run(comfy, emulator):
    emulator.endpoint.set_state("SLEEPING", phases=(1.0, 1.0, 1.0))  # awake 3 s after the wake
    local_runs(comfy)
    prompt = {  # both edits wait for a local node that holds the executor for 1.5 s
        "1": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
        "6": {"class_type": "FriendliTestSlowLocal", "inputs": {"image": ["1", 0], "seconds": 1.5}},
        "2": friendli(["6", 0], 11), "3": save(["2", 0], "w1"),
        "4": friendli(["6", 0], 12), "5": save(["4", 0], "w2"),
    }
    result = comfy.run(prompt, timeout=60)
    assert result["messages"][-1]["type"] == "execution_success", result["messages"][-3:]
    wakes = [r for r in emulator.lifecycle_requests if r.path.endswith("/wake")]
    assert len(wakes) == 1 and emulator.endpoint.wakes == 1
    assert all(wakes[0].time <= r.time for r in emulator.requests)  # before any edit was sent
    [local] = local_runs(comfy)
    assert wakes[0].time < local["end"], (wakes[0].time, local)  # at queue time: no Friendli node could run yet
    states = {m["data"].get("endpoint_state") for m in result["messages"] if m["type"] == "friendli.progress"}
    assert "AWAKING" in states  # the nodes showed the wake on their progress line
    assert len(emulator.requests) == 2  # no 503 storm at the edit route


def test_with_wake_on_queue_off_the_endpoint_wakes_only_when_a_node_runs(comfy, emulator):
    """The contrast to the test above: the early wake comes from the queue hook, not from the nodes."""
    prefs = comfy.base / "user" / "comfyui-friendli" / "preferences.json"
    saved = prefs.read_text()
    prefs.write_text(json.dumps(json.loads(saved) | {"wake_on_queue": False}))
    try:
        emulator.endpoint.set_state("SLEEPING", phases=(0.2, 0.2, 0.2))
        local_runs(comfy)
        prompt = {
            "1": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
            "6": {"class_type": "FriendliTestSlowLocal", "inputs": {"image": ["1", 0], "seconds": 1.0}},
            "2": friendli(["6", 0], 21), "3": save(["2", 0], "q1"),
            "4": friendli(["6", 0], 22), "5": save(["4", 0], "q2"),
        }
        result = comfy.run(prompt, timeout=60)
    finally:
        prefs.write_text(saved)
    assert result["messages"][-1]["type"] == "execution_success", result["messages"][-3:]
    wakes = [r for r in emulator.lifecycle_requests if r.path.endswith("/wake")]
    [local] = local_runs(comfy)
    assert len(wakes) == 1 and wakes[0].time >= local["end"], ([w.time for w in wakes], local)  # one, shared
    assert len(emulator.requests) == 2


def test_the_locales_are_served(comfy):
    status, body = comfy.get("/i18n")
    assert status == 200
    data = json.loads(body)
    for lang, name in (("ko", "Friendli 이미지 편집"), ("ja", "Friendli 画像編集"), ("zh", "Friendli 图像编辑")):
        assert data[lang]["nodeDefs"]["FriendliImageEdit"]["display_name"] == name
        assert "Friendli_TrustedHosts" in data[lang]["settings"]


def test_a_workflow_naming_an_untrusted_host_never_reaches_it(comfy, emulator):
    with HostileServer(lambda conn, request: respond(conn, 200, b"{}")) as foreign:
        prompt = {
            "1": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
            "8": {"class_type": "FriendliEndpoint", "inputs": {"service": "dedicated", "endpoint_id": "test-endpoint",
                                                               "adapter_route": "", "base_url": foreign.base_url,
                                                               "team": ""}},
            "2": friendli(["1", 0], 77, endpoint=["8", 0]), "3": save(["2", 0], "x"),
        }
        result = comfy.run(prompt)  # the Friendli Endpoint node refuses it when it runs, before any edit
        error = result["messages"][-1]
        assert error["type"] == "execution_error" and error["data"]["node_id"] == "8", error
        assert "base_url" in error["data"]["exception_message"] and "Trusted hosts" in error["data"]["exception_message"]
        time.sleep(0.5)  # the queued-prompt hook ran before the run: give its worker time
        assert foreign.requests == []  # not even the queued-prompt wake went there
    assert TOKEN not in json.dumps(result["messages"])


def test_generate_with_a_control_image_then_edit(comfy, emulator):
    """Issue 18: a graph with Friendli Image Generate guided by a loaded control image, two images
    (seed + i), then a Friendli edit of them — in a real host, over the queue."""
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
        "2": {"class_type": "FriendliImageGenerate", "inputs": {
            "prompt": "a fox", "endpoint_id": "test-endpoint", "num_inference_steps": 20, "guidance_scale": -1.0,
            "seed": 30, "response_format": "png", "count": 2, "control_image_1": ["1", 0], "control_weight_1": 0.6}},
        "3": friendli(["2", 0], 50),
        "4": save(["3", 0], "gen"),
    }
    result = comfy.run(prompt, timeout=60)
    assert result["messages"][-1]["type"] == "execution_success", result["messages"][-3:]
    generations = [r for r in emulator.requests if r.path.endswith("/images/generations")]
    assert sorted(r.body["seed"] for r in generations) == [30, 31]
    assert all(r.body["controlnet_weights"] == [0.6] and len(r.body["control_images"]) == 1 for r in generations)
    assert len([r for r in emulator.requests if r.path.endswith("/images/edits")]) == 2
    assert len(result["history"]["outputs"]["4"]["images"]) == 2
