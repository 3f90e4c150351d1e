"""Issue 17, server side: setup errors before Run (VALIDATE_INPUTS), the question before a large run,
the endpoint time and cost on the progress line, and the endpoint's spec in Test connection."""

from __future__ import annotations

import importlib
import threading

import pytest

from helpers import TOKEN, batch, call, run_edit, wait_until


@pytest.fixture
def validate(pack):
    return importlib.import_module(pack.__name__ + ".nodes.validate")


def set_prefs(pack, **values):
    """Settings > Friendli where the nodes read them (the fake host's user folder, when one is installed)."""
    prefs = importlib.import_module(pack.__name__ + ".client.prefs")
    path = importlib.import_module(pack.__name__ + ".nodes.host").user_folder() / prefs.FILE_NAME
    prefs.write(prefs.validate(values, prefs.read(path)), path)


# ---- VALIDATE_INPUTS ---------------------------------------------------------------------------------

def test_the_edit_nodes_check_their_setup_when_queued(nodes, monkeypatch):
    for cls in (nodes.edit.FriendliImageEdit, nodes.edit.FriendliMultiImageEdit):
        check = cls.VALIDATE_INPUTS
        assert "prompt is empty" in check(prompt="  ", endpoint_id="ep")
        assert "endpoint_id is empty" in check(prompt="p", endpoint_id="")
        assert "Friendli Endpoint node" in check(prompt="p", endpoint_id=" ")
        assert "No Friendli API key is set" in check(prompt="p", endpoint_id="ep")
        assert "Settings (Ctrl+, or ⌘+,) > Friendli" in check(prompt="p", endpoint_id="ep")
        assert check(prompt="p", endpoint_id="", endpoint=None) is True  # a linked Friendli Endpoint checks itself
        assert check(prompt=None, endpoint_id=None, endpoint=None) is True  # linked inputs have no value yet
        monkeypatch.setenv("FRIENDLI_TOKEN", TOKEN)
        assert check(prompt="p", endpoint_id="ep") is True
        monkeypatch.delenv("FRIENDLI_TOKEN")


def test_the_endpoint_node_checks_the_key_and_its_host(nodes, monkeypatch, pack):
    check = nodes.endpoint.FriendliEndpoint.VALIDATE_INPUTS
    assert check(service="container", base_url="http://10.0.0.5:8000") is True  # no key needed
    assert "service must be one of" in check(service="gpu", base_url="")
    assert "No Friendli API key is set" in check(service="dedicated", base_url="")
    monkeypatch.setenv("FRIENDLI_TOKEN", TOKEN)
    assert check(service="dedicated", base_url="") is True
    untrusted = check(service="dedicated", base_url="https://proxy.example.com")
    assert "proxy.example.com:443 is not trusted" in untrusted and "Settings (Ctrl+, or ⌘+,) > Friendli > Trusted hosts" in untrusted
    assert "plain http" in check(service="dedicated", base_url="http://proxy.example.com")
    assert "not an http(s) URL" in check(service="dedicated", base_url="ftp://x")
    set_prefs(pack, trusted_hosts=["proxy.example.com"])
    assert check(service="dedicated", base_url="https://proxy.example.com/") is True


def test_validate_inputs_names_only_what_it_checks(nodes):
    """Naming an input turns off the host's own checks for it: only free-text and link inputs are named."""
    import inspect

    for cls, names in ((nodes.edit.FriendliImageEdit, ["prompt", "endpoint_id", "endpoint"]),
                       (nodes.endpoint.FriendliEndpoint, ["service", "base_url"])):
        assert list(inspect.signature(cls.VALIDATE_INPUTS).parameters) == names


# ---- asking before a large run ---------------------------------------------------------------------

def test_without_a_browser_the_setting_decides(nodes, online, pack, client_pkg):
    set_prefs(pack, result_store=False, confirm_over=2)
    out, _ = run_edit(nodes, batch(3))  # "send" (the default): no one to ask, it goes
    assert out.shape[0] == 3 and len(online.requests) == 3
    set_prefs(pack, confirm_headless="skip")
    with pytest.raises(client_pkg.FriendliInputError, match="would send 3 requests, more than the 2"):
        run_edit(nodes, batch(3))
    assert len(online.requests) == 3  # nothing more was sent
    out, _ = run_edit(nodes, batch(2))  # at the limit: no question
    assert out.shape[0] == 2


@pytest.mark.parametrize("reply", ["yes", "no", "cancel"])
def test_with_a_browser_the_run_waits_for_its_answer(nodes, online, pack, fake_host, reply):
    confirm = importlib.import_module(pack.__name__ + ".nodes.confirm")
    set_prefs(pack, result_store=False, confirm_over=2, confirm_headless="skip")
    server = fake_host.modules["server"].PromptServer.instance
    server.sockets = {"client-1": object()}  # the browser that queued the prompt is connected

    def answer():
        assert wait_until(lambda: any(e == "friendli.confirm" for e, *_ in fake_host.events))
        question = next(d for e, d, *_ in fake_host.events if e == "friendli.confirm")
        assert question["requests"] == 4 and question["node"] == "9" and online.requests == []
        if reply == "cancel":
            fake_host.flag = True
        else:
            assert confirm.answer(question["id"], reply == "yes")
            assert not confirm.answer(question["id"], True)  # one answer per question

    threading.Thread(target=answer, daemon=True).start()
    if reply == "yes":
        out, _ = run_edit(nodes, batch(4), unique_id="9")
        assert out.shape[0] == 4 and len(online.requests) == 4
    else:
        with pytest.raises(fake_host.Interrupt):
            run_edit(nodes, batch(4), unique_id="9")
        assert online.requests == []


@pytest.mark.asyncio
async def test_the_confirm_route(client, pack):
    confirm = importlib.import_module(pack.__name__ + ".nodes.confirm")
    status, data = await call(client, "POST", "/friendli/confirm", json={"id": "nope", "ok": True})
    assert status == 404
    confirm._answers["q1"] = None
    status, data = await call(client, "POST", "/friendli/confirm", json={"id": "q1", "ok": "yes"})
    assert status == 400
    status, _ = await call(client, "POST", "/friendli/confirm", json={"id": "q1", "ok": True},
                           headers={"Origin": "http://evil.example"})
    assert status == 403 and confirm._answers["q1"] is None
    status, data = await call(client, "POST", "/friendli/confirm", json={"id": "q1", "ok": True})
    assert status == 200 and confirm._answers.pop("q1") is True


# ---- endpoint time, cost, limit, store on the progress line -----------------------------------------

def test_endpoint_time_adds_up_over_a_batch(nodes, online, pack, fake_host):
    online.latency = 0.3
    set_prefs(pack, result_store=False, price_per_gpu_hour=3.6)
    online.endpoint.spec["numGpu"] = 2
    run_edit(nodes, batch(3), max_concurrency=1, unique_id="1")
    last = fake_host.progress_events()[-1]
    assert last["state"] == "done" and 0.9 <= last["endpoint_s"] <= last["elapsed"]
    assert last["cost"] == pytest.approx(last["endpoint_s"] / 3600 * 3.6 * 2, abs=1e-3)  # 2 GPUs
    assert last["eta"] == pytest.approx(0.3, abs=0.25)  # the endpoint's recent median, for the next image
    assert "endpoint time" in fake_host.texts[-1][0] and "≈ $" in fake_host.texts[-1][0]
    run_edit(nodes, batch(3), max_concurrency=3, unique_id="2")  # at once: the spans overlap, counted once
    last = fake_host.progress_events()[-1]
    assert 0.3 <= last["endpoint_s"] < 0.75


def test_the_line_says_when_the_endpoint_limit_caps_the_node(nodes, online, pack, fake_host):
    set_prefs(pack, result_store=False, max_in_flight=2)
    run_edit(nodes, batch(3), max_concurrency=8, unique_id="1")
    assert fake_host.progress_events()[-1]["limit"] == 2
    assert "2 in flight (endpoint limit)" in fake_host.texts[-1][0]


def test_a_result_from_the_store_costs_no_endpoint_time(nodes, online, pack, fake_host):
    set_prefs(pack, result_store=True)
    run_edit(nodes, batch(2), unique_id="1")
    run_edit(nodes, batch(2), unique_id="2")
    last = fake_host.progress_events()[-1]
    assert last["stored"] is True and last["endpoint_s"] == 0 and len(online.requests) == 2
    assert "from the result store · no endpoint time" in fake_host.texts[-1][0]


@pytest.mark.asyncio
async def test_test_connection_shows_the_endpoint_spec(client, emulator, monkeypatch):
    monkeypatch.setenv("FRIENDLI_BASE_URL", emulator.base_url)
    monkeypatch.setenv("FRIENDLI_TOKEN", TOKEN)
    emulator.endpoint.spec.update(name="cat-editor", gpuType="A100", numGpu=2, autoscalingMax=3,
                                  autoscalingCooldown=300)
    emulator.endpoint.replicas = 2
    status, data = await call(client, "POST", "/friendli/endpoint/status", (TOKEN,), json={"endpoint_id": "test-endpoint"})
    assert status == 200 and data["status"] == "RUNNING"
    info = data["info"]
    assert {k: info[k] for k in ("name", "gpu_type", "num_gpu", "replicas_current", "replicas_min", "replicas_max",
                                 "cooldown_s")} == {"name": "cat-editor", "gpu_type": "A100", "num_gpu": 2,
                                                    "replicas_current": 2, "replicas_min": 0, "replicas_max": 3,
                                                    "cooldown_s": 300}
    assert "running_s" in info  # the emulator's status has no updatedAt: unknown, None
    emulator.endpoint.spec.update(name="x" * 500 + "\x1b[31m", numGpu="lots")  # a hostile spec is bounded
    status, data = await call(client, "POST", "/friendli/endpoint/status", (TOKEN,), json={"endpoint_id": "test-endpoint"})
    assert len(data["info"]["name"]) <= 80 and "\x1b" not in data["info"]["name"] and data["info"]["num_gpu"] is None
