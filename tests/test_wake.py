"""Waking endpoints when a prompt is queued: the host's prompt hook, against the emulator."""

from __future__ import annotations

import copy
import importlib

import pytest

from helpers import TOKEN


@pytest.fixture
def wake(pack):
    return importlib.import_module(pack.__name__ + ".nodes.wake")


@pytest.fixture
def prefs(pack):
    return importlib.import_module(pack.__name__ + ".client.prefs")


def edit_node(endpoint_id="test-endpoint", link=None):
    inputs = {"image": ["1", 0], "prompt": "p", "endpoint_id": endpoint_id, "num_inference_steps": 20,
              "guidance_scale": -1.0, "seed": 1, "response_format": "png"}
    if link:
        inputs["endpoint"] = link
    return {"class_type": "FriendliImageEdit", "inputs": inputs}


def settle(wake, timeout=5.0):
    assert wake.wait_idle(timeout)


def test_two_nodes_on_one_sleeping_endpoint_send_one_wake(wake, emulator, monkeypatch):
    monkeypatch.setenv("FRIENDLI_TOKEN", TOKEN)
    monkeypatch.setenv("FRIENDLI_BASE_URL", emulator.base_url)
    emulator.endpoint.set_state("SLEEPING", phases=(5, 5, 5))
    data = {"prompt": {"1": {"class_type": "LoadImage", "inputs": {"image": "a.png"}},
                       "2": edit_node(), "3": {"class_type": "FriendliMultiImageEdit",
                                               "inputs": {"image_1": ["1", 0], "endpoint_id": "test-endpoint"}}},
            "client_id": "c"}
    before = copy.deepcopy(data)
    assert wake.on_prompt(data) is data and data == before  # the prompt goes on unchanged
    settle(wake)
    wakes = [r for r in emulator.lifecycle_requests if r.path.endswith("/wake")]
    assert len(wakes) == 1 and emulator.endpoint.wakes == 1 and emulator.requests == []
    wake.on_prompt(data)  # queued again while it wakes: the state says AWAKING, no second wake
    settle(wake)
    assert emulator.endpoint.wakes == 1


def test_untrusted_hosts_and_the_setting_are_respected(wake, emulator, monkeypatch, prefs, pack):
    monkeypatch.setenv("FRIENDLI_TOKEN", TOKEN)  # FRIENDLI_BASE_URL unset: the emulator is not trusted
    emulator.endpoint.set_state("SLEEPING")
    foreign = {"class_type": "FriendliEndpoint", "inputs": {"service": "dedicated", "endpoint_id": "test-endpoint",
                                                            "adapter_route": "", "base_url": emulator.base_url,
                                                            "team": ""}}
    data = {"prompt": {"5": foreign, "6": edit_node(link=["5", 0])}}
    wake.on_prompt(data)
    settle(wake)
    assert emulator.lifecycle_requests == []  # the workflow named a host the user never trusted
    monkeypatch.setenv("FRIENDLI_BASE_URL", emulator.base_url)
    prefs.write(prefs.validate({"wake_on_queue": False}), prefs.default_path())
    wake.on_prompt(data)
    settle(wake)
    assert emulator.lifecycle_requests == []  # switched off in Settings > Friendli


@pytest.mark.parametrize("junk", [None, 5, {"prompt": []}, {"prompt": {"1": "x", "2": {"class_type": "FriendliImageEdit",
                                  "inputs": {"endpoint": ["9", 0], "endpoint_id": ["3", 0]}}}}])
def test_junk_prompts_pass_through(wake, junk):
    assert wake.on_prompt(junk) is junk


def test_the_hook_is_registered_inside_comfyui(pack, monkeypatch):
    import sys
    import types

    from aiohttp import web

    handlers = []

    class Server:
        routes = web.RouteTableDef()

        def add_on_prompt_handler(self, handler):
            handlers.append(handler)

    monkeypatch.setitem(sys.modules, "server", types.SimpleNamespace(PromptServer=types.SimpleNamespace(instance=Server())))
    pack._register_routes()
    assert [h.__name__ for h in handlers] == ["on_prompt"]
