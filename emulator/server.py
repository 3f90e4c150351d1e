"""A local HTTP emulator of the FriendliAI image endpoints (edits and generations), for tests, demos
and benchmarks.

Two services share the API port: Dedicated (``POST /dedicated/v1/images/edits`` and
``…/images/generations``, bearer token, ``{"data": [{b64_json|url, seed, response_format}]}``) and
Friendli Container (``POST /v1/images/edits`` and ``/v1/images/generations``, no auth,
``{"image": "<base64>"}``). Bodies are validated strictly (unknown fields rejected) with FastAPI-style
422 details (emulator/contract.py). ``url`` results are served by a second port, the file server,
without auth; its requests are recorded too.

The images are deterministic stand-ins, NOT a model (emulator/stand_in.py).

Faults (``Emulator.fault``) are queued FIFO; each request to an image route consumes one. Each known
endpoint (``Emulator.endpoints``, id -> EmulatedEndpoint) has its own lifecycle and spec
(emulator/endpoints.py), served on the beta routes (list, get, status, wake, sleep); images get 503
while their endpoint is not running. ``Emulator.endpoint`` is the first one's.
The command line is emulator/cli.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import socket
import threading
import time
from collections import deque
from typing import Any
from urllib.parse import urlsplit

from . import endpoints as beta
from .contract import reject_constant, validate
from .endpoints import EmulatedEndpoint
from .faults import FAULTS, answer_fault
from .plumbing import FileHandler, Handler, RecordedRequest, Server, hung_up
from .stand_in import b64 as _b64
from .stand_in import encode_image, stand_in_edit, stand_in_generate

MAX_BODY_BYTES = 512 * 1024 * 1024
MAX_FILES = 256  # url results kept; older ones 404 (their lifetime upstream is undocumented)
ROUTES = {  # path -> (service, operation)
    "/dedicated/v1/images/edits": ("dedicated", "edit"), "/v1/images/edits": ("container", "edit"),
    "/dedicated/v1/images/generations": ("dedicated", "generate"),
    "/v1/images/generations": ("container", "generate"),
}
_INVALID = object()  # a body that is not JSON
__all__ = ["FAULTS", "MAX_BODY_BYTES", "Emulator", "RecordedRequest"]


class Emulator:
    """Local emulator of the Dedicated and Container image services (see module docstring).

    ``endpoints``: the known endpoint ids (a set is taken in sorted order). ``Emulator.endpoints`` maps
    each id to its EmulatedEndpoint (lifecycle, ``spec``, ``replicas``); add more with ``add_endpoint``
    or remove them with ``del emulator.endpoints[id]``. ``reset()`` restores the constructor's ones.
    """

    def __init__(self, token: str = "test-token", *, endpoints: Any = ("test-endpoint",),
                 host: str = "127.0.0.1", port: int = 0, files_port: int = 0, lifecycle_routes: bool = True) -> None:
        self.token, self.host = token, host
        ids = [endpoints] if isinstance(endpoints, str) else (
            sorted(endpoints) if isinstance(endpoints, (set, frozenset)) else list(endpoints))
        self._endpoint_ids = list(dict.fromkeys(ids))
        self.endpoints: dict[str, EmulatedEndpoint] = {i: EmulatedEndpoint(i) for i in self._endpoint_ids}
        self._ports = (port, files_port)
        self.base_url = self.files_base_url = ""
        self.requests: list[RecordedRequest] = []  # edit and generation routes (and unknown paths)
        self.file_requests: list[RecordedRequest] = []
        self.lifecycle_requests: list[RecordedRequest] = []  # status, wake and sleep routes
        self.endpoint_requests: list[RecordedRequest] = []  # the list and get (spec) routes
        self.lifecycle_routes = lifecycle_routes  # False: a server without the beta endpoint routes (404)
        self.latency = 0.0  # each image request is answered this many seconds after it arrived, its work included
        self.cache_responses = False  # answer a byte-identical image request with its first answer
        self._cache: dict[bytes, tuple[Any, ...]] = {}
        self.output_size: tuple[int, int] | None = None
        self.in_flight = self.max_in_flight = 0  # API requests being answered now / at most at once
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._faults: deque[tuple[str, dict[str, Any]]] = deque()
        self._files: dict[str, bytes] = {}
        self._conns: set[socket.socket] = set()
        self._servers: list[Server] = []
        self._threads: list[threading.Thread] = []
        self._seed_counter = 0

    def __repr__(self) -> str:  # never shows the token
        return f"<Emulator {self.base_url or 'stopped'}>"

    # -- endpoints --
    @property
    def endpoint(self) -> EmulatedEndpoint:
        """The first endpoint (by default "test-endpoint"): its lifecycle, spec and replicas."""
        return next(iter(self.endpoints.values()))

    def add_endpoint(self, endpoint_id: str, **spec: Any) -> EmulatedEndpoint:
        """A new known endpoint (replacing one of that id), RUNNING; ``spec`` overrides fields of its
        spec (JSON names, e.g. ``name``, ``gpuType``, ``numGpu``, ``projectId``, ``autoscalingMax``)."""
        endpoint = self.endpoints[endpoint_id] = EmulatedEndpoint(endpoint_id, **spec)
        return endpoint

    @property
    def generation_requests(self) -> list[RecordedRequest]:
        """The recorded requests to the two generation routes, oldest first."""
        return [r for r in list(self.requests) if urlsplit(r.path).path.endswith("/images/generations")]

    # -- lifecycle --
    def start(self) -> Emulator:
        if self._servers:
            return self
        self._stop.clear()
        try:
            for handler, port in zip((Handler, FileHandler), self._ports):
                srv = Server((self.host, port), handler)
                srv.emulator = self
                self._servers.append(srv)
        except BaseException:
            self._close_servers()
            raise
        url_host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        api, files = (f"http://{url_host}:{s.server_address[1]}" for s in self._servers)
        self.base_url, self.files_base_url = api, files
        for srv in self._servers:
            thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                                      name="friendli-emulator", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop both servers promptly, aborting sleeping requests and idle keep-alive connections."""
        self._stop.set()
        for srv in self._servers:
            srv.shutdown()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._close_servers()
        for thread in self._threads:
            thread.join(timeout=1)
        self._threads.clear()

    def _close_servers(self) -> None:
        for srv in self._servers:
            srv.server_close()
        self._servers.clear()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- control --
    def fault(self, kind: str, times: int = 1, **params: Any) -> None:
        """Queue ``times`` copies of a fault; each edit request consumes the oldest one."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULTS)}")
        unknown = set(params) - FAULTS[kind]
        if unknown:
            raise TypeError(f"fault {kind!r} takes no parameter(s) {', '.join(sorted(unknown))}")
        with self._lock:
            self._faults.extend((kind, dict(params)) for _ in range(times))

    def reset(self) -> None:
        """Clear faults, recorded requests, stored files, latency, output_size, the seed counter and
        the in-flight maximum; the constructor's endpoints again, RUNNING with their default specs."""
        with self._lock:
            self._faults.clear()
            del self.requests[:], self.file_requests[:], self.lifecycle_requests[:], self.endpoint_requests[:]
            self.endpoints = {i: EmulatedEndpoint(i) for i in self._endpoint_ids}
            self._cache.clear()
            self._files.clear()
            self.latency, self.output_size, self._seed_counter = 0.0, None, 0
            self.max_in_flight = self.in_flight

    # -- internals --
    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            self._conns.add(conn) if add else self._conns.discard(conn)

    def _sleep(self, seconds: float, conn: socket.socket | None = None) -> bool:
        """Sleep in small slices; False when the emulator stopped or the client hung up meanwhile."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if self._stop.wait(min(left, 0.05)) or (conn is not None and hung_up(conn)):
                return False
        return not self._stop.is_set()

    def _record(self, h: Handler, into: list[RecordedRequest]) -> RecordedRequest | None:
        """Read the body and record the request; None (after answering) when the body is unreadable."""
        rec = RecordedRequest(h.command, h.path, dict(h.headers.items()), None, b"")
        with self._lock:
            into.append(rec)
        length = h.headers.get("Content-Length", "0")
        if h.headers.get("Transfer-Encoding") or not length.isdigit() or int(length) > MAX_BODY_BYTES:
            h.close_connection = True  # the rest of the stream cannot be trusted
            h.reply(411, {"detail": "a Content-Length of at most 512 MiB is required"})
            return None
        rec.raw = h.rfile.read(int(length))
        return rec

    def _handle_file(self, h: Handler) -> None:
        if self._record(h, self.file_requests) is None:
            return
        path = urlsplit(h.path).path
        with self._lock:
            data = self._files.get(path[len("/files/"):]) if path.startswith("/files/") else None
        if h.command not in ("GET", "HEAD"):
            h.reply(405, {"detail": "Method Not Allowed"}, {"Allow": "GET, HEAD"})
        elif data is None:
            h.reply(404, {"detail": "File not found"})
        else:
            h.reply(200, data, ctype="image/png")

    def _handle_api(self, h: Handler) -> None:
        match = beta.ROUTE.match(urlsplit(h.path).path)
        if match and self.lifecycle_routes:
            return self._handle_beta(h, *match.groups())
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        h.counted = True
        try:
            self._answer_api(h)
        finally:
            self._answered(h)

    def _handle_beta(self, h: Handler, endpoint_id: str | None, action: str | None) -> None:
        """The beta endpoint routes: list, get (spec), status, wake, sleep."""
        if self._record(h, self.lifecycle_requests if action else self.endpoint_requests) is None:
            return
        if not self._authorized(h.headers.get("Authorization")):
            return h.reply(401, {"detail": "Invalid or missing API key"})
        h.reply(*beta.answer(self.endpoints, h.command, endpoint_id, action, urlsplit(h.path).query))

    def _remember(self, key: bytes, answer: tuple[Any, ...]) -> None:
        with self._lock:
            if len(self._cache) < 4096:
                self._cache[key] = answer

    def _answered(self, h: Handler) -> None:
        """The request stops counting as in flight (before its answer is written, so the client's
        next request can never be counted together with it)."""
        if getattr(h, "counted", False):
            h.counted = False
            with self._lock:
                self.in_flight -= 1

    def _answer_api(self, h: Handler) -> None:
        rec = self._record(h, self.requests)
        if rec is None:
            return
        try:
            body = json.loads(rec.raw, parse_constant=reject_constant)
        except ValueError:  # also an empty body
            body = _INVALID
        rec.body = None if body is _INVALID else body
        service, op = ROUTES.get(urlsplit(h.path).path, (None, None))
        if service is None:
            return h.reply(404, {"detail": "Not Found"})
        if h.command != "POST":
            return h.reply(405, {"detail": "Method Not Allowed"}, {"Allow": "POST"})
        with self._lock:
            kind, params = self._faults.popleft() if self._faults else (None, {})
        h.due = rec.time + self.latency + (float(params.get("seconds", 0)) if kind == "latency" else 0.0)
        if kind is None and self.cache_responses:
            h.cache_key = hashlib.blake2b(b"%s\0%s\0%s" % (h.path.encode(), str(h.headers.get(
                "Authorization")).encode(), rec.raw), digest_size=16).digest()
            with self._lock:
                cached = self._cache.get(h.cache_key)
            if cached is not None:
                return h.reply(*cached)
        try:
            if kind is None or not answer_fault(h, kind, params, service, rec.body):
                self._answer_image(h, service, op, body, keep_file=kind != "url_missing")
        except Exception as exc:  # a bug in the emulator: say so instead of dropping the connection
            h.reply(500, {"detail": f"Emulator internal error: {exc!r}"})
        return None

    def _answer_image(self, h: Handler, service: str, op: str, body: Any, keep_file: bool) -> None:
        """An edit or a generation (``op``), after the checks the real service makes."""
        if service == "dedicated" and not self._authorized(h.headers.get("Authorization")):
            return h.reply(401, {"detail": "Invalid or missing API key"})
        if body is _INVALID:
            return h.reply(422, {"detail": [{"loc": ["body", 0], "msg": "JSON decode error",
                                             "type": "json_invalid"}]})
        params, errors = validate(body, service == "container", self._own_file, op)
        if errors:
            return h.reply(422, {"detail": errors})
        endpoint = self.endpoints.get(params["model"].split(":")[0]) if service == "dedicated" else None
        if service == "dedicated" and endpoint is None:
            return h.reply(404, {"detail": f"Endpoint {params['model'].split(':')[0]} not found"})
        if endpoint is not None and not endpoint.running:
            endpoint.wake()  # a request wakes a sleeping endpoint, as the real one does
            state = endpoint.status()
            return h.reply(503, {"detail": f"Endpoint is {state['status'].lower()} and is now waking up; retry later"
                                 if state["status"] != "FAILED" else f"Endpoint failed: {state['errorCode']}"})
        seed = params["seed"]
        if seed is None:
            with self._lock:
                seed, self._seed_counter = 1000 + self._seed_counter, self._seed_counter + 1
        if op == "generate":
            img = stand_in_generate(params["prompt"], seed, params["steps"], params["guidance"],
                                    params["controls"], params["weights"], self.output_size)
        else:
            img = stand_in_edit(params["images"], params["prompt"], seed, params["steps"],
                                params["guidance"], self.output_size)
        fmt = params["format"]
        if service == "container":
            return h.reply(200, {"image": _b64(encode_image(img, fmt))})
        if fmt == "url":
            name = secrets.token_hex(8) + ".png"
            if keep_file:
                self._store_file(name, encode_image(img, "png"))
            item = {"url": f"{self.files_base_url}/files/{name}"}
        else:
            item = {"b64_json": _b64(encode_image(img, fmt))}
        return h.reply(200, {"data": [{**item, "seed": seed, "response_format": fmt}]})

    def _authorized(self, header: str | None) -> bool:
        scheme, _, value = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.encode(), self.token.encode())

    def _store_file(self, name: str, data: bytes) -> None:
        with self._lock:
            self._files[name] = data
            while len(self._files) > MAX_FILES:
                del self._files[next(iter(self._files))]

    def _own_file(self, url: str) -> bytes | None:
        """The bytes of a url result this emulator serves, or None."""
        own = f"{self.files_base_url}/files/"
        if not url.startswith(own):
            return None
        with self._lock:
            return self._files.get(url[len(own):])
