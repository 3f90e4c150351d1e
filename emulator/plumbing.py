"""The emulator's HTTP plumbing: a threaded server, a handler that hands each request to the
Emulator and writes answers no earlier than they are due, and the recorded-request record."""

from __future__ import annotations

import json
import select
import socket
import sys
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import Emulator


@dataclass
class RecordedRequest:
    """One request as the emulator received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or None when absent or not JSON
    raw: bytes
    time: float = field(default_factory=time.monotonic)

    def header(self, name: str, default: str | None = None) -> str | None:
        """A header value, looked up case-insensitively."""
        lname = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lname), default)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    emulator: Emulator  # set by Emulator.start

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # disconnects are normal; bugs are not
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60
    server: Server
    files = False  # True for the file server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        self.server.emulator._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.emulator._track(self.connection, add=False)

    def _dispatch(self) -> None:
        emu = self.server.emulator
        emu._handle_file(self) if self.files else emu._handle_api(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch

    due = 0.0  # monotonic time before which the answer is not written (the emulated latency)
    cache_key: bytes | None = None  # set when a 200 answer of this request may be cached

    def reply(self, status: int, body: Any, headers: dict[str, str] | None = None,
              ctype: str | None = None) -> None:
        if isinstance(body, (dict, list)):
            data, ctype = json.dumps(body).encode(), ctype or "application/json"
        elif isinstance(body, str):
            data, ctype = body.encode(), ctype or "text/plain; charset=utf-8"
        else:
            data, ctype = body, ctype or "application/octet-stream"
        emulator = self.server.emulator
        if not emulator._sleep(self.due - time.monotonic(), self.connection):  # not before it is due
            self.close_connection = True  # stopped, or the client hung up, meanwhile
            return emulator._answered(self)
        emulator._answered(self)
        if self.cache_key is not None and status == 200:
            emulator._remember(self.cache_key, (status, body, headers, ctype))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


class FileHandler(Handler):
    files = True


def hung_up(conn: socket.socket) -> bool:
    """True when the peer closed or shut down its side (readable, and nothing to read)."""
    try:
        readable, _, _ = select.select([conn], [], [], 0)
        return bool(readable) and conn.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True
