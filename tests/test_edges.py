"""Issue 25, trust at the edges: no other site's page can make the routes spend the key, the endpoint
list is single-flight, cached and bounded, and no proxy from the environment sees the key over plain http.

Everything over real loopback HTTP: the routes on an aiohttp test server, the emulator, the hostile
server, and a recording proxy (a small threaded server that keeps what it receives)."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from urllib.parse import urlsplit

import pytest

from helpers import TOKEN, call, error_of
from hostile import HostileServer, b64_answer, client_for, edit, edits, no_status, respond

SECRETS = (TOKEN,)


def list_requests(server_requests):
    return [r for r in server_requests if urlsplit(r.path).path == "/dedicated/beta/endpoint"]


def keyed(emulator):
    """Every request that reached the emulator carrying an Authorization header."""
    seen = emulator.requests + emulator.lifecycle_requests + emulator.endpoint_requests
    return [r for r in seen if r.header("Authorization")]


# ---- routes: other sites are refused, scripts keep working ------------------------------------------

CROSS_SITE = [{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"},
              {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "script"},
              {"Sec-Fetch-Site": "CROSS-SITE"},
              {"Sec-Fetch-Site": "same-origin", "Origin": "http://evil.example"}]


@pytest.mark.asyncio
@pytest.mark.parametrize("headers", CROSS_SITE)
async def test_a_cross_site_marked_request_sends_nothing_with_the_key(client, env, headers):
    """What an <img> or <script> of another page sends (no Origin, Sec-Fetch-Site: cross-site): 403, and
    nothing reaches the emulator, on the list and on every other route that uses the key."""
    status, data = await call(client, "GET", "/friendli/endpoints", SECRETS, headers=headers)
    assert status == 403 and "endpoints" not in data and "refused" in data["error"]
    for action in ("status", "sleep"):
        status, _ = await call(client, "POST", f"/friendli/endpoint/{action}", SECRETS, headers=headers,
                               json={"endpoint_id": "test-endpoint"})
        assert status == 403
    status, _ = await call(client, "GET", "/friendli/status", SECRETS, headers=headers)
    assert status == 403
    await asyncio.sleep(0.1)
    assert keyed(env) == [] and env.endpoints["test-endpoint"].status()["status"] == "RUNNING"  # not asleep


@pytest.mark.asyncio
@pytest.mark.parametrize("headers", [{}, {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"},
                                     {"Sec-Fetch-Site": "none"}])
async def test_the_page_itself_and_scripts_keep_working(client, env, headers):
    if "Sec-Fetch-Mode" in headers:  # the ComfyUI page's own fetch also names its origin
        headers = headers | {"Origin": f"http://{client.server.host}:{client.server.port}"}
    status, data = await call(client, "GET", "/friendli/endpoints", SECRETS, headers=headers)
    assert status == 200 and [r["id"] for r in data["endpoints"]] == ["test-endpoint"]
    assert {r.header("Authorization") for r in keyed(env)} == {f"Bearer {TOKEN}"}


# ---- the list: single-flight, cached a few seconds per key, team and base URL -------------------------

@pytest.mark.asyncio
async def test_ten_quick_calls_make_one_listing(client, env):
    env.add_endpoint("ep-2", name="second")
    together = await asyncio.gather(*(call(client, "GET", "/friendli/endpoints", SECRETS) for _ in range(5)))
    one_by_one = [await call(client, "GET", "/friendli/endpoints", SECRETS) for _ in range(5)]
    answers = together + one_by_one
    assert all(status == 200 for status, _ in answers)
    assert all(data == answers[0][1] for _, data in answers) and len(answers[0][1]["endpoints"]) == 2
    assert len(list_requests(env.endpoint_requests)) == 1  # one page, counted at the emulator
    assert len(env.endpoint_requests) == 1 + 2  # and each spec once
    # another team is another listing; so is another key
    status, _ = await call(client, "GET", "/friendli/endpoints?team=other-team", SECRETS)
    assert status == 200 and len(list_requests(env.endpoint_requests)) == 2


@pytest.mark.asyncio
async def test_a_new_key_is_not_answered_from_the_old_keys_listing(client, env, monkeypatch):
    status, data = await call(client, "GET", "/friendli/endpoints", SECRETS)
    assert status == 200 and data["available"]
    monkeypatch.setenv("FRIENDLI_TOKEN", "flp_another-key-5678")
    status, data = await call(client, "GET", "/friendli/endpoints", SECRETS + ("flp_another-key-5678",))
    assert status == 502 and "not accepted" in data["error"]
    assert len(list_requests(env.endpoint_requests)) == 2


@pytest.mark.asyncio
async def test_a_burst_of_listings_holds_at_most_two_threads_and_other_routes_still_answer(
        client, routes_mod, monkeypatch):
    """Eight listings for eight teams against a list route that answers only when released: at most
    LIST_AT_ONCE reach the server together, and the store route (on the default executor) answers while
    they wait."""
    release = threading.Event()
    lock = threading.Lock()
    state = {"now": 0, "most": 0}

    def held(conn, request):
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        release.wait(10)
        with lock:
            state["now"] -= 1
        respond(conn, 200, json.dumps({"data": {}, "nextCursor": None}).encode())

    with HostileServer(held) as server:
        monkeypatch.setenv("FRIENDLI_BASE_URL", server.base_url)
        monkeypatch.setenv("FRIENDLI_TOKEN", TOKEN)
        burst = [asyncio.ensure_future(call(client, "GET", f"/friendli/endpoints?team=t{i}", SECRETS))
                 for i in range(8)]
        while len(server.requests) < routes_mod.LIST_AT_ONCE:
            await asyncio.sleep(0.02)
        status, data = await call(client, "GET", "/friendli/store", SECRETS)
        assert status == 200 and "entries" in data
        assert not any(task.done() for task in burst)  # the store answered while every listing waited
        release.set()
        answers = await asyncio.gather(*burst)
    assert all(status == 200 and data["endpoints"] == [] for status, data in answers)
    assert len(list_requests(server.requests)) == 8 and state["most"] == routes_mod.LIST_AT_ONCE


# ---- proxies from the environment never see the key over plain http ----------------------------------

class RecordingProxy:
    """A forward proxy on loopback that records every request line and header block it receives and answers
    502 (it forwards nothing); CONNECT is recorded too and refused."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, name="hostile-proxy", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), name="hostile-proxy-conn", daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            data = b""
            try:
                while b"\r\n\r\n" not in data and len(data) < 1 << 16:
                    part = conn.recv(65536)
                    if not part:
                        break
                    data += part
                self.received.append(data)
                conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                self.received.append(data)

    def close(self) -> None:
        self._sock.close()


@pytest.fixture
def proxy(monkeypatch):
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)  # no loopback exception: only the pack keeps the key away
    recording = RecordingProxy()
    yield recording
    recording.close()


PROXY_VARIABLES = ["ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy", "All_Proxy", "Http_Proxy"]


@pytest.mark.parametrize("name", PROXY_VARIABLES)
def test_no_proxy_variable_gets_the_key_over_plain_http(client_pkg, proxy, monkeypatch, name):
    """The status request, the edit and a url result's download at a plain-http loopback base URL go
    straight to it with every proxy variable set; the recording proxy receives nothing."""
    monkeypatch.setenv(name, proxy.url)
    with HostileServer(lambda conn, r: respond(conn, 200, b64_answer(PNG))) as local:
        with client_for(client_pkg, local, max_retries=0) as client:
            result, = edit(client)
            client.lifecycle().status("test-endpoint")
    assert proxy.received == []
    assert result.image.shape == (8, 8, 3) and len(edits(local)) == 1
    assert any(r.headers.get("Authorization") == f"Bearer {TOKEN}" for r in local.requests)


@pytest.mark.parametrize("name", ["ALL_PROXY", "HTTP_PROXY"])
def test_the_session_sends_a_keyed_plain_http_request_past_any_proxy(pack, proxy, monkeypatch, name):
    """The rule in the session itself, for a host that is not loopback (192.0.2.1, TEST-NET: nothing answers):
    with the key the proxy receives nothing; the same request without a key still uses the proxy."""
    import importlib

    import requests

    transport = importlib.import_module(pack.__name__ + ".client.transport")
    monkeypatch.setenv(name, proxy.url)
    with transport.make_session(max_retries=0) as session:
        with pytest.raises(requests.RequestException):
            session.get("http://192.0.2.1:9/v1/x", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=0.2)
        assert proxy.received == []
        assert session.get("http://192.0.2.1:9/v1/x", timeout=5).status_code == 502  # the proxy's answer
    assert proxy.received[0].startswith(b"GET http://192.0.2.1:9/v1/x ") and TOKEN.encode() not in proxy.received[0]


def test_https_through_a_proxy_stays_a_connect_tunnel(client_pkg, proxy, monkeypatch):
    """https still goes through HTTPS_PROXY / ALL_PROXY, as a CONNECT: the proxy sees the host, never the
    request or its key (the recording proxy refuses the tunnel, so the request fails as a proxy error)."""
    monkeypatch.setenv("ALL_PROXY", proxy.url)
    with client_pkg.FriendliImageClient(token=TOKEN, base_url="https://api.friendli.ai", max_retries=0) as client:
        exc = error_of(lambda: edit(client))
    lines = [r.split(b"\r\n")[0] for r in proxy.received]  # the status request, then the edit
    assert lines and all(line.startswith(b"CONNECT api.friendli.ai:443 ") for line in lines), lines
    assert TOKEN.encode() not in b"".join(proxy.received)
    assert isinstance(exc, client_pkg.FriendliNetworkError) and exc.kind == "proxy", repr(exc)
    assert "HTTPS_PROXY / ALL_PROXY" in str(exc)


@pytest.mark.parametrize("value, words", [("socks5://127.0.0.1:9", "SOCKS"), ("http://", "not a valid URL"),
                                          ("http://[::1", "not a valid URL"), ("ftp://proxy:21", "scheme ftp")])
def test_a_proxy_mistake_says_which_variable_to_check(client_pkg, monkeypatch, value, words):
    monkeypatch.setenv("HTTPS_PROXY", value)
    with client_pkg.FriendliImageClient(token=TOKEN, base_url="https://api.friendli.ai", max_retries=0) as client:
        exc = error_of(lambda: edit(client))
    assert isinstance(exc, client_pkg.FriendliNetworkError) and exc.kind == "proxy", repr(exc)
    assert "check HTTPS_PROXY / ALL_PROXY" in str(exc) and words in str(exc) and "header" not in str(exc)
    assert TOKEN not in str(exc)


def _png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(out, "PNG")
    return out.getvalue()


PNG = _png()


# ---- messages: the picker's budget, a corrupt image ---------------------------------------------------

@pytest.mark.parametrize("behaviour", ["silent", "trickle"])
def test_the_pickers_budget_says_the_list_did_not_arrive(client_pkg, pack, behaviour):
    """A list route that never answers, or trickles a page: the listing ends at its budget and says so, not
    an edit's "the endpoint may have done the work"."""
    import importlib
    import time

    from hostile import until_hangup

    endpoints = importlib.import_module(pack.__name__ + ".client.endpoints")

    def trickle(conn, request):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n{\"data\": {")
        for _ in range(50):
            time.sleep(0.1)
            conn.sendall(b" ")

    with HostileServer(until_hangup if behaviour == "silent" else trickle) as server:
        with client_pkg.FriendliImageClient(token=TOKEN, base_url=server.base_url) as client:
            exc = error_of(lambda: endpoints.list_endpoints(client.lifecycle(), budget=0.5))
    assert isinstance(exc, client_pkg.FriendliTimeoutError), repr(exc)
    assert str(exc).startswith("the list did not arrive within 0.5 s") and "done the work" not in str(exc)


def test_a_corrupt_image_is_explained_without_a_python_repr(client_pkg):
    corrupt = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64  # a PNG signature, then nothing a decoder can read
    with HostileServer(no_status(lambda conn, r: respond(conn, 200, b64_answer(corrupt)))) as srv:
        with client_for(client_pkg, srv, max_retries=0) as client:
            exc = error_of(lambda: edit(client))
    assert isinstance(exc, client_pkg.FriendliResponseError) and "corrupt image" in str(exc), repr(exc)
    assert " at 0x" not in str(exc) and "<_io" not in str(exc) and "object" not in str(exc)


# ---- every number a node accepts is finite and in its widget's range ------------------------------------

NAN, INF = float("nan"), float("inf")
EDIT_NUMBERS = ["crop_context", "crop_megapixels", "max_send_megapixels", "guidance_scale", "num_inference_steps",
                "seed", "max_concurrency"]


def refused(emulator, run, widget):
    """``run()`` raises FriendliInputError naming ``widget`` (no repr, no raw ValueError) and sends nothing."""
    exc = error_of(run)
    assert type(exc).__name__ == "FriendliInputError" and str(exc).startswith(f"{widget}: "), repr(exc)
    said = str(exc)[len(widget) + 2:]
    assert not re.search(r"\b(nan|inf|ValueError|OverflowError)\b", said) and "set it to" in said, said
    assert emulator.requests == [] and emulator.lifecycle_requests == [] and emulator.endpoint_requests == []
    return str(exc)


@pytest.mark.parametrize("value", [NAN, INF, -INF])
@pytest.mark.parametrize("widget", EDIT_NUMBERS)
def test_the_edit_node_refuses_nan_and_infinity_by_widget(nodes, online, widget, value):
    from helpers import batch, run_edit

    args = {widget: value} | ({"mask_mode": "whole image"} if widget.startswith("crop") else {})
    message = refused(online, lambda: run_edit(nodes, batch(1), **args), widget)
    assert ("NaN" if value != value else "infinite") in message


@pytest.mark.parametrize("widget", ["crop_context", "crop_megapixels", "max_send_megapixels", "guidance_scale",
                                    "num_inference_steps", "seed"])
def test_the_multi_image_node_refuses_nan_by_widget(nodes, online, widget):
    from helpers import batch

    args = dict(endpoint_id="test-endpoint", num_inference_steps=20, guidance_scale=-1.0, seed=1,
                response_format="png") | {widget: NAN}
    refused(online, lambda: asyncio.run(nodes.edit.FriendliMultiImageEdit().edit(batch(1), "p", **args)), widget)


@pytest.mark.parametrize("widget", ["control_weight_1", "control_weight_4", "count", "guidance_scale",
                                    "num_inference_steps", "seed", "max_concurrency"])
def test_the_generate_node_refuses_nan_by_widget(pack, online, widget):
    import importlib

    generate = importlib.import_module(pack.__name__ + ".nodes.generate")
    args = dict(endpoint_id="test-endpoint", num_inference_steps=20, guidance_scale=-1.0, seed=1,
                response_format="png") | {widget: NAN}
    refused(online, lambda: asyncio.run(generate.FriendliImageGenerate().generate("a fox", **args)), widget)


@pytest.mark.parametrize("widget, value, words", [
    ("crop_context", 2.5, "is 2.5, outside its range; set it to a number from 0 to 2"),
    ("seed", 2**32, "is 4294967296, outside"),
    ("num_inference_steps", 2.5, "is 2.5; set it to a whole number"),
    ("max_concurrency", "4", "is text; set it to a whole number from 1 to 16")])
def test_out_of_range_values_are_explained_in_the_widgets_terms(nodes, online, widget, value, words):
    from helpers import batch, run_edit

    assert words in refused(online, lambda: run_edit(nodes, batch(1), **{widget: value}), widget)


# ---- the memory budget: the peak stays within the setting plus one answer -------------------------------

def crowd(budget, answers: int, raw: int, weight: int, declared: bool, chunk: int = 4) -> float:
    """``answers`` threads each reading an answer of ``raw`` bytes in ``chunk``s through a lease of
    ``budget`` (reserved first when ``declared``), holding it a moment, then releasing; the seconds taken."""
    import random
    import time

    never = threading.Event()
    start = threading.Barrier(answers)

    def one(seed: int) -> None:
        rnd = random.Random(seed)
        start.wait()
        with budget.lease(10**9) as lease:
            if declared:
                lease.reserve(raw, weight, never)
            for _ in range(raw // chunk):
                lease.take(chunk, weight, never)
                if rnd.random() < 0.2:
                    time.sleep(0.0005)  # others get a turn halfway through
            time.sleep(0.002)  # decoding

    threads = [threading.Thread(target=one, args=(i,), name=f"hostile-budget-{i}") for i in range(answers)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads), "a lease never got its memory (deadlock)"
    assert budget.used == 0
    return time.monotonic() - began


@pytest.mark.parametrize("weight", [1, 3])
@pytest.mark.parametrize("limit", [64, 512])
def test_declared_answers_never_pass_the_budget_but_alone(pack, limit, weight):
    """4 nodes x 4 answers of 40 (x weight: the JSON is held 3 times over), each reserved as its Content-Length
    arrives: the peak is at most the setting, or one answer where that alone is larger."""
    import importlib

    scheduler = importlib.import_module(pack.__name__ + ".client.scheduler")
    budget = scheduler.MemoryBudget(limit)
    crowd(budget, 16, 40, weight, declared=True)
    assert budget.peak <= max(limit, 40 * weight), budget.peak
    if limit == 512:
        assert budget.peak >= 2 * 40 * weight  # answers that fit are still read together


@pytest.mark.parametrize("limit", [64, 512])
def test_answers_of_unknown_size_pass_the_budget_by_at_most_one_answer(pack, limit):
    import importlib

    scheduler = importlib.import_module(pack.__name__ + ".client.scheduler")
    budget = scheduler.MemoryBudget(limit)
    crowd(budget, 16, 40, 3, declared=False)
    assert budget.peak <= limit + 40 * 3, budget.peak


def test_half_read_answers_that_all_wait_let_the_oldest_finish_first(pack):
    """Two answers of unknown size, half read, fill the budget: neither fits, so the oldest goes on (nothing
    deadlocks) while the younger waits for it to give its memory back; a newcomer waits behind them."""
    import importlib

    scheduler = importlib.import_module(pack.__name__ + ".client.scheduler")
    budget = scheduler.MemoryBudget(100)
    never = threading.Event()
    old, young, late = budget.lease(10**6), budget.lease(10**6), budget.lease(10**6)
    old.take(50, 1, never)
    young.take(50, 1, never)
    young_done, late_done = threading.Event(), threading.Event()
    threading.Thread(target=lambda: (young.take(30, 1, never), young_done.set()), daemon=True).start()
    assert not young_done.wait(0.1)
    old.take(30, 1, never)  # the younger one waits: the oldest proceeds past the budget, by this answer only
    assert budget.used == 130 and not young_done.is_set()
    threading.Thread(target=lambda: (late.take(10, 1, never), late_done.set()), daemon=True).start()
    old.release()
    assert young_done.wait(2)
    assert late_done.wait(2) and budget.used == 90  # it fits now, after the older one
    young.release()
    late.release()
    assert budget.used == 0 and budget.peak == 130


def test_a_newcomer_does_not_overtake_an_answer_waiting_to_read_alone(pack):
    import importlib

    scheduler = importlib.import_module(pack.__name__ + ".client.scheduler")
    budget = scheduler.MemoryBudget(100)
    never = threading.Event()
    small, big, newcomer = budget.lease(10**6), budget.lease(10**6), budget.lease(10**6)
    small.reserve(60, 1, never)
    big_done, new_done = threading.Event(), threading.Event()
    threading.Thread(target=lambda: (big.reserve(150, 1, never), big_done.set()), daemon=True).start()
    assert not big_done.wait(0.1)
    threading.Thread(target=lambda: (newcomer.reserve(10, 1, never), new_done.set()), daemon=True).start()
    assert not new_done.wait(0.1)  # 10 would fit, but the bigger answer came first
    small.release()
    assert big_done.wait(2) and budget.used == 150 and not new_done.is_set()  # alone, past the budget
    big.release()
    assert new_done.wait(2)
    newcomer.release()
    assert budget.peak == 150
