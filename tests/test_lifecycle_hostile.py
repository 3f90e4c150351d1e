"""The status route's answer is untrusted: a loopback server answering it in hostile ways never makes the
state check a new way to fail — the answer is read bounded, and anything that is not a status object is
"unknown" (None), after which a run goes on as without the route."""

from __future__ import annotations

import http.server
import importlib
import json
import threading

import pytest
import requests

HUGE = b'{"status": "RUNNING", "pad": "' + b"x" * (8 << 20) + b'"}'  # a status object, if read whole
ANSWERS = {
    "huge": (200, HUGE),
    "not-json": (200, b"<html>gateway</html>"),
    "list": (200, b"[]"),
    "wrong-types": (200, b'{"status": 5, "phase": [], "errorCode": {}}'),
    "deep": (200, b"[" * 100_000 + b"]" * 100_000),
    "forbidden": (403, b'{"detail": "no"}'),
    "missing": (404, b"Not Found"),
    "method": (405, b""),
    "redirect": (302, b""),
    "server-error": (500, b"oops"),
}


class Hostile(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        name = self.path.split("/")[-2]
        if name == "odd":
            body = json.dumps({"status": "failed", "phase": "SOMETHING_NEW",
                               "errorCode": "\x1b[2J\nMODEL_DOWNLOAD_ERROR flp_" + "A" * 30}).encode()
            code = 200
        else:
            code, body = ANSWERS[name]
        self.send_response(code)
        if code == 302:
            self.send_header("Location", "http://example.invalid/elsewhere")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:  # the client stopped reading (bounded read) and hung up
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def lifecycle(pack, server):
    module = importlib.import_module(pack.__name__ + ".client.lifecycle")
    with requests.Session() as session:
        yield module.Lifecycle(session, server, {"Authorization": "Bearer flp_test"}, (5.0, 20.0))


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_a_hostile_status_answer_is_unknown(lifecycle, name):
    assert lifecycle.status(name) is None  # the huge one too: read bounded, so it never parses


@pytest.mark.parametrize("name", ["huge", "not-json", "missing", "method"])
def test_the_wait_returns_at_once_when_the_state_is_unknown(lifecycle, name):
    events: list[dict] = []
    stop = threading.Event()
    lifecycle.wait_until_ready(name, stop=stop, deadline=None, on_event=events.append)
    assert events == []


def test_an_odd_status_object_is_validated_and_scrubbed(lifecycle, pack, client_pkg):
    status = lifecycle.status("odd")
    assert status.status == "FAILED" and status.phase is None
    assert "MODEL_DOWNLOAD_ERROR" in status.error_code and "AAAA" not in status.error_code
    assert all(c.isalnum() or c in "_.-" for c in status.error_code)
    with pytest.raises(client_pkg.FriendliError) as failure:
        lifecycle.wait_until_ready("odd", stop=threading.Event(), deadline=None)
    assert "\x1b" not in str(failure.value) and "\n" not in str(failure.value)
