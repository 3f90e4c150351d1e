"""Issue 8, row by row, against a hostile server on loopback (tests/hostile.py) and the emulator.

Memory is measured in a subprocess (its peak RSS), threads and sockets in this process, requests at
the server. No speed assertions: waits are bounded, and only counts and outcomes are asserted.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

from helpers import TOKEN, batch, error_of, established_to, friendli_threads, photo, wait_until
from packloader import child_code
from hostile import (HostileServer, b64_answer, client_for, edit, edits, gzip_bomb, huge_png, no_status, respond,
                     stream_forever)


# ---- H1: the key goes only where the user said -------------------------------------------------

def test_h1_a_workflow_host_never_gets_the_key_even_with_an_env_base_url(nodes, online, client_pkg):
    with HostileServer(no_status(lambda conn, r: respond(conn, 200, b"{}"))) as evil:
        with pytest.raises(client_pkg.FriendliConfigError, match="Trusted hosts"):  # the Friendli Endpoint node
            nodes.endpoint.FriendliEndpoint().build("dedicated", "test-endpoint", "", evil.base_url, "")
        endpoint = nodes.endpoint.Endpoint("dedicated", "test-endpoint", "", evil.base_url, "")
        with pytest.raises(client_pkg.FriendliConfigError, match="Trusted hosts"):  # and the run, all the same
            asyncio.run(nodes.edit.FriendliImageEdit().edit(
                batch(1), "p", "test-endpoint", 20, -1.0, 1, "png", endpoint=endpoint))
        assert evil.requests == []  # nothing reached it, no Authorization header anywhere


def test_h1_plain_http_carries_the_key_only_to_loopback(client_pkg):
    config = client_pkg.config
    assert config.key_allowed("http://127.0.0.1:9", ["127.0.0.1"])
    assert not config.key_allowed("http://10.0.0.5:8000", ["10.0.0.5"])  # trusted, but plain http
    assert config.key_allowed("https://10.0.0.5:8443", ["10.0.0.5"])
    assert not config.key_allowed("https://api.friendli.ai.evil.example", [])
    with pytest.raises(client_pkg.FriendliConfigError, match="https"):
        client_pkg.FriendliImageClient(token=TOKEN, base_url="http://example.com").edit(photo(), "x", endpoint_id="e")


def test_h1_a_container_may_use_any_base_url_and_gets_no_key(client_pkg):
    answer = json.dumps({"image": __import__("base64").b64encode(_png()).decode()}).encode()
    with HostileServer(lambda conn, r: respond(conn, 200, answer)) as srv:
        client = client_pkg.FriendliImageClient(service="container", token=TOKEN, base_url=srv.base_url)
        result, = client.edit(photo(), "x", response_format="jpeg")
        assert result.image.shape == (8, 8, 3)
        assert srv.requests and all("Authorization" not in r.headers for r in srv.requests)


# ---- H2, M1: bounded reads ------------------------------------------------------------------------

MEMORY_PROBE = child_code("pk") + """
import resource, json, threading
import numpy as np
from pk.client import FriendliImageClient
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
client = FriendliImageClient(token="flp_probe-token-123", base_url=sys.argv[1], backoff_factor=0.01)
try:
    [r.image for r in client.edit(np.zeros((8, 8, 3), np.uint8), "x", endpoint_id="e", seed=1)]  # decoded, as the nodes do
    outcome = "no error"
except Exception as exc:
    outcome = type(exc).__name__ + ": " + str(exc)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"outcome": outcome, "growth_mb": (after - before) / 1024}))
"""


def probe_memory(server) -> dict:
    run = subprocess.run([sys.executable, "-c", MEMORY_PROBE, server.base_url], capture_output=True,
                         text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_h2_a_gzip_bomb_stops_at_the_cap(client_pkg):
    bomb = gzip_bomb()  # 1.5 GB of JSON-ish text in about 1.5 MB

    def answer(conn, request):
        respond(conn, 200, bomb, {"Content-Encoding": "gzip", "Content-Type": "application/json"})

    with HostileServer(no_status(answer)) as srv:
        result = probe_memory(srv)
    assert result["outcome"].startswith("FriendliResponseError") and "MiB" in result["outcome"]
    assert result["growth_mb"] < 700  # the cap (256 MiB) and its copies, not the 1.5 GB of the bomb


def test_h2_endless_bodies_are_not_read_whole(client_pkg, monkeypatch):
    api = importlib.import_module(client_pkg.__name__ + ".api")
    monkeypatch.setattr(api, "MAX_ANSWER_BYTES", 4 << 20)
    with HostileServer(no_status(lambda conn, r: stream_forever(conn, 200, lambda: False))) as srv:
        exc = error_of(lambda: edit(client_for(client_pkg, srv)))
    assert isinstance(exc, client_pkg.FriendliResponseError) and "larger than 4 MiB" in str(exc)
    answers = iter([lambda conn: stream_forever(conn, 503, lambda: False), lambda conn: respond(conn, 200, b"[]")])
    with HostileServer(no_status(lambda conn, r: next(answers)(conn))) as srv:
        exc = error_of(lambda: edit(client_for(client_pkg, srv)))  # the endless 503 is retried after 8 KiB
    assert isinstance(exc, client_pkg.FriendliResponseError) and '"data"' in str(exc) and len(edits(srv)) == 2


def test_m1_a_huge_png_answer_is_refused_before_decoding(client_pkg):
    answer = b64_answer(huge_png())
    with HostileServer(no_status(lambda conn, r: respond(conn, 200, answer))) as srv:
        result = probe_memory(srv)
    assert result["outcome"].startswith("FriendliResponseError") and "13000×13000" in result["outcome"]
    assert result["growth_mb"] < 200  # 13000² RGB would be 480 MB as uint8


# ---- M2: Cancel and the deadline stop the work ------------------------------------------------------

def test_m2_cancel_during_retry_after_sends_nothing_more(client_pkg):
    with HostileServer(no_status(lambda conn, r: respond(conn, 429, b"{}", {"Retry-After": "2"}))) as srv:
        flag = threading.Event()
        threading.Timer(0.3, flag.set).start()
        exc = error_of(lambda: edit(client_for(client_pkg, srv), cancel=flag.is_set))
        assert isinstance(exc, client_pkg.FriendliCancelledError)
        time.sleep(3)  # past the Retry-After: an abandoned worker would have sent again by now
        assert len(edits(srv)) == 1


def test_m2_cancelled_runs_against_a_silent_server_leave_no_threads_or_sockets(client_pkg):
    baseline = len(friendli_threads())
    done = threading.Event()

    def silent(conn, request):
        done.wait(60)  # accepts the request, never answers

    with HostileServer(no_status(silent)) as srv:
        for _ in range(20):
            flag = threading.Event()
            threading.Timer(0.05, flag.set).start()
            assert isinstance(error_of(lambda: edit(client_for(client_pkg, srv), cancel=flag.is_set)),
                              client_pkg.FriendliCancelledError)
        assert wait_until(lambda: len(friendli_threads()) <= baseline, timeout=5)
        assert wait_until(lambda: established_to(srv.port) == 0, timeout=5)  # our ends are shut down
        assert len(edits(srv)) <= 20  # never more than one request per run
        done.set()


def test_m2_retry_after_beyond_the_deadline_fails_at_once(client_pkg):
    with HostileServer(no_status(lambda conn, r: respond(conn, 503, b"{}", {"Retry-After": "1000000000"}))) as srv:
        exc = error_of(lambda: edit(client_for(client_pkg, srv, deadline=60)))
    assert isinstance(exc, client_pkg.FriendliTimeoutError) and "Retry-After" in str(exc)
    assert len(edits(srv)) == 1


def test_m2_a_trickling_url_download_ends_at_its_time_limit(client_pkg):
    def answer(conn, request):
        if request.path.startswith("/file"):
            return stream_forever(conn, 200, lambda: False, chunk=b"x", pause=0.2, chunked=False)
        body = json.dumps({"data": [{"url": f"http://127.0.0.1:{conn.getsockname()[1]}/file", "seed": 1}]})
        respond(conn, 200, body.encode())

    baseline = len(friendli_threads())
    with HostileServer(no_status(answer)) as srv:
        exc = error_of(lambda: edit(client_for(client_pkg, srv, download_timeout=1.0), response_format="url"))
    assert isinstance(exc, client_pkg.FriendliTimeoutError) and "too slowly" in str(exc)
    assert wait_until(lambda: len(friendli_threads()) <= baseline)


# ---- M3: a request received in full is not sent again ----------------------------------------------

@pytest.mark.parametrize("how", ["close", "reset"])
def test_m3_an_answer_dropped_after_the_body_is_not_resent(client_pkg, how):
    def drop(conn, request):
        if how == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    with HostileServer(no_status(drop)) as srv:
        exc = error_of(lambda: edit(client_for(client_pkg, srv)))
        time.sleep(0.3)
    assert isinstance(exc, client_pkg.FriendliNetworkError) and "may have received it and done the work" in str(exc)
    assert len(edits(srv)) == 1


def test_m3_a_stale_pooled_connection_still_works(client_pkg, emulator):
    answers = []

    def keep_alive_then_close(conn, request):
        if "/beta/endpoint/" in request.path:
            respond(conn, 404, b"{}", keep_alive=True)
            return True
        answers.append(1)
        respond(conn, 200, b64_answer(_png()), keep_alive=True)  # says keep-alive, then closes: stale
        return None

    with HostileServer(keep_alive_then_close) as srv:
        client = client_for(client_pkg, srv)
        edit(client)
        time.sleep(0.2)
        edit(client, seed=2)
    assert len(answers) == 2


def _png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(out, "PNG")
    return out.getvalue()


# ---- L1: no secret reaches a message, an event or a log line ----------------------------------------

@pytest.mark.parametrize("status", [401, 500])
def test_l1_echoed_headers_are_scrubbed(client_pkg, caplog, status):
    def echo(conn, request):
        text = json.dumps({"detail": "you sent " + json.dumps(request.headers) + " and flp_other-secret-key"})
        respond(conn, status, text.encode())

    events = []
    caplog.set_level(logging.DEBUG)
    with HostileServer(no_status(echo)) as srv:
        exc = error_of(lambda: edit(client_for(client_pkg, srv, max_retries=1, on_event=events.append)))
    text = str(exc) + repr(exc) + json.dumps(events) + " ".join(r.getMessage() for r in caplog.records)
    assert "you sent" in str(exc) and TOKEN not in text and "flp_other" not in text
    assert "Bearer flp" not in text


# ---- L2, L3, L6: the right words --------------------------------------------------------------------

def test_l2_deeply_nested_json_is_a_response_error(client_pkg):
    with HostileServer(no_status(lambda conn, r: respond(conn, 200, b"[" * 100000 + b"]" * 100000))) as srv:
        exc = error_of(lambda: edit(client_for(client_pkg, srv)))
    assert isinstance(exc, client_pkg.FriendliResponseError) and "nested" in str(exc)


@pytest.mark.parametrize("team", ["équipe", "team\r\nX-Evil: 1"])
def test_l2_l3_a_team_that_cannot_be_a_header_is_a_config_error(client_pkg, monkeypatch, team):
    with pytest.raises(client_pkg.FriendliConfigError, match="team"):
        client_pkg.FriendliImageClient(token=TOKEN, team=team)
    monkeypatch.setenv("FRIENDLI_TEAM", team)
    with pytest.raises(client_pkg.FriendliConfigError, match="team .*environment"):
        client_pkg.FriendliImageClient(token=TOKEN)


@pytest.mark.parametrize("url", ["http://[::1/x", "https://api.friendli.ai/a\r\nb", "https://u:pw@host/"])
def test_l2_l6_malformed_base_urls_are_config_errors(client_pkg, url):
    with pytest.raises(client_pkg.FriendliConfigError) as info:
        client_pkg.FriendliImageClient(token=TOKEN, base_url=url)
    assert "pw" not in str(info.value)


def test_l3_an_invalid_retry_after_is_a_plain_retry(client_pkg):
    answers = iter([lambda c: respond(c, 503, b"{}", {"Retry-After": "soon"}), lambda c: respond(c, 200, b64_answer(_png()))])
    with HostileServer(no_status(lambda conn, r: next(answers)(conn))) as srv:
        result, = edit(client_for(client_pkg, srv))
    assert result.image.shape == (8, 8, 3) and len(edits(srv)) == 2


def test_l3_a_redirect_without_location_is_explained(client_pkg):
    def answer(conn, request):
        if request.path.startswith("/file"):
            return respond(conn, 302, b"")
        respond(conn, 200, json.dumps({"data": [{"url": f"http://127.0.0.1:{conn.getsockname()[1]}/file"}]}).encode())

    with HostileServer(no_status(answer)) as srv:
        exc = error_of(lambda: edit(client_for(client_pkg, srv), response_format="url"))
    assert isinstance(exc, client_pkg.FriendliResponseError) and "Location" in str(exc)


def test_l4_result_urls_on_private_addresses_are_refused_before_connecting(client_pkg):
    client = client_pkg.FriendliImageClient(token=TOKEN)  # https://api.friendli.ai: a public base URL
    for url in ("http://127.0.0.1:1/x.png", "http://10.255.255.1/x.png", "http://169.254.169.254/latest",
                "http://[::1]/x", "http://localhost/x"):
        exc = error_of(lambda: client._dedicated_result({"url": url}))
        assert isinstance(exc, client_pkg.FriendliResponseError) and "local or private" in str(exc), url


def test_l6_the_right_words(client_pkg, monkeypatch):
    client = client_pkg.FriendliImageClient(token=TOKEN)
    for seed in (True, -1, 2**32):
        with pytest.raises(client_pkg.FriendliInputError, match="^seed"):
            client.build_body(photo(), "x", endpoint_id="e", seed=seed)
    with HostileServer(no_status(lambda conn, r: respond(conn, 200, b'{"data": "nope"}'))) as srv:
        exc = error_of(lambda: edit(client_for(client_pkg, srv)))
    assert "not a list" in str(exc)
    codec = importlib.import_module(client_pkg.__name__ + ".codec")
    monkeypatch.setattr(codec, "MAX_IMAGE_BYTES", 10)
    exc = error_of(lambda: codec.check_size(b"x" * 11))
    assert "downscale" in str(exc) and "send it as jpeg" not in str(exc)
