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
        both = check(endpoint_id="")  # both problems at once, each said once
        assert both.count("endpoint_id: is empty") == 1 and both.count("No Friendli API key is set") == 1
        assert "Friendli Endpoint node" in check(endpoint_id=" ")
        assert "Settings > Friendli > API key" in check(endpoint_id="ep") and "endpoint_id: is empty" not in check(
            endpoint_id="ep")
        assert check(endpoint_id="", endpoint=None) is True  # a linked Friendli Endpoint checks itself
        assert "No Friendli API key" in check(endpoint_id=None)  # a linked id has no value yet: the key is checked
        monkeypatch.setenv("FRIENDLI_TOKEN", TOKEN)
        assert check(endpoint_id="ep") is True and check(endpoint_id=None) is True
        monkeypatch.delenv("FRIENDLI_TOKEN")


def test_the_endpoint_node_checks_the_key_when_queued_and_its_host_when_it_runs(nodes, monkeypatch, pack, client_pkg):
    check = nodes.endpoint.FriendliEndpoint.VALIDATE_INPUTS
    build = nodes.endpoint.FriendliEndpoint().build
    assert check(service="container") is True  # no key needed
    assert build("container", "", "", "http://10.0.0.5:8000", "")[0].base_url == "http://10.0.0.5:8000"
    assert "service must be one of" in check(service="gpu")
    assert "No Friendli API key is set" in check(service="dedicated")
    monkeypatch.setenv("FRIENDLI_TOKEN", TOKEN)
    assert check(service="dedicated") is True
    with pytest.raises(client_pkg.FriendliConfigError, match=r"base_url: .*proxy.example.com:443 is not trusted") as err:
        build("dedicated", "ep", "", "https://proxy.example.com", "")
    assert "Trusted hosts" in str(err.value)
    for url, words in (("http://proxy.example.com", "plain http"), ("ftp://x", r"not an http\(s\) URL")):
        with pytest.raises(client_pkg.FriendliConfigError, match=words):
            build("dedicated", "ep", "", url, "")
    set_prefs(pack, trusted_hosts=["proxy.example.com"])
    assert build("dedicated", "ep", "", "https://proxy.example.com/", "")[0].endpoint_id == "ep"


def test_validate_inputs_names_one_field_each(nodes, pack):
    """ComfyUI repeats a failing validator's message under every input its signature names (and skips its
    own checks for them): each validator names the one field its problems are about."""
    import inspect

    generate = importlib.import_module(pack.__name__ + ".nodes.generate")
    for cls, names in ((nodes.edit.FriendliImageEdit, ["endpoint_id", "endpoint"]),
                       (nodes.edit.FriendliMultiImageEdit, ["endpoint_id", "endpoint"]),
                       (generate.FriendliImageGenerate, ["endpoint_id", "endpoint"]),
                       (nodes.endpoint.FriendliEndpoint, ["service"])):
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
    # each attempt counts from its body sent to its answer; the emulator's 0.3 s run from the request's first bytes
    assert last["state"] == "done" and 0.8 <= last["endpoint_s"] <= last["elapsed"]
    assert last["cost"] == pytest.approx(last["endpoint_s"] / 3600 * 3.6 * 2, abs=1e-3)  # 2 GPUs
    assert last["eta"] == pytest.approx(0.3, abs=0.25)  # the recent median of such requests, for the next run
    assert last["eta"] <= last["eta_p90"] < 0.6
    assert "endpoint time" in fake_host.texts[-1][0] and "< $0.01" in fake_host.texts[-1][0]  # never "≈ $0.00"
    run_edit(nodes, batch(3), max_concurrency=3, unique_id="2")  # at once: the spans overlap, counted once
    last = fake_host.progress_events()[-1]
    assert 0.28 <= last["endpoint_s"] < 0.75  # a span starts once its body is written: may be a moment under 0.3


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
