"""A hostile HTTP server on loopback: each test says how it answers, byte by byte.

``HostileServer(behaviour)`` reads one request per connection (head and a Content-Length body),
records it, counts open connections, and hands the socket to ``behaviour(conn, request)``, which
writes whatever it likes (or nothing) and returns; the connection is then closed.
"""

from __future__ import annotations

import base64
import gzip
import json
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from helpers import TOKEN, photo


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)  # when its body was in (monotonic clock)


Behaviour = Callable[[socket.socket, Request], None]


class HostileServer:
    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.requests: list[Request] = []
        self.open_connections = 0
        self._lock = threading.Lock()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True, name="hostile-server").start()

    def close(self) -> None:
        self._stop.set()
        self._sock.close()

    def __enter__(self) -> "HostileServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True, name="hostile-conn").start()

    def _handle(self, conn: socket.socket) -> None:
        with self._lock:
            self.open_connections += 1
        try:
            while not self._stop.is_set():  # keep-alive: one request after another
                request = _read_request(conn)
                if request is None:
                    return
                with self._lock:
                    self.requests.append(request)
                if self.behaviour(conn, request) is not True:  # True = keep the connection open
                    return
        except OSError:
            pass
        finally:
            conn.close()
            with self._lock:
                self.open_connections -= 1


def _read_request(conn: socket.socket) -> Request | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(next((v for k, v in headers.items() if k.lower() == "content-length"), "0"))
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    return Request(method, path, headers, body)


def respond(conn: socket.socket, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
            keep_alive: bool = False) -> None:
    head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}",
            "Connection: keep-alive" if keep_alive else "Connection: close"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)


def until_hangup(conn: socket.socket, request: Request | None = None, limit: float = 120.0) -> None:
    """Accept the request and never answer: wait until the client closes its end (or ``limit`` s)."""
    conn.settimeout(limit)
    try:
        while conn.recv(65536):
            pass
    except OSError:
        pass


def stream_forever(conn: socket.socket, status: int, stop: Callable[[], bool], chunk: bytes = b"x" * 65536,
                   pause: float = 0.0, chunked: bool = True) -> None:
    """An endless body, chunked (or without a length), until the client goes away."""
    header = "Transfer-Encoding: chunked" if chunked else "Connection: close"
    conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{header}\r\n\r\n".encode())
    frame = (b"%x\r\n" % len(chunk) + chunk + b"\r\n") if chunked else chunk
    while not stop():
        conn.sendall(frame)
        if pause:
            time.sleep(pause)


def _flushed(compressor, data: bytes) -> bytes:
    """``data`` deflated up to a full flush: a run of blocks that refers to nothing before it, so the same
    bytes can follow themselves any number of times (compressing a 1 GB bomb takes seconds; repeating its
    1 MiB unit, milliseconds)."""
    return compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)


@lru_cache(maxsize=None)
def gzip_bomb(size: int = 1536 * 1024 * 1024) -> bytes:
    """``size`` bytes of spaces inside a JSON-looking answer, gzip-compressed (about 1.5 MB; a valid gzip
    member, CRC and length included)."""
    head, block, count = b'{"data": "', b" " * (1 << 20), size >> 20
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    start, unit = _flushed(deflate, head), _flushed(deflate, block)
    crc = zlib.crc32(head)
    for _ in range(count):
        crc = zlib.crc32(block, crc)
    return (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + start + unit * count + deflate.flush()
            + struct.pack("<II", crc, (len(head) + count * len(block)) & 0xFFFFFFFF))


@lru_cache(maxsize=None)
def huge_png(width: int = 13000, height: int = 13000) -> bytes:
    """A valid single-colour RGB PNG of the given size (a few hundred KB: rows of zeros compress well)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    row = b"\x00" + b"\x00" * (width * 3)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    unit, adler = _flushed(deflate, row), 1
    for _ in range(height):
        adler = zlib.adler32(row, adler)
    idat = b"\x78\xda" + unit * height + deflate.flush() + struct.pack(">I", adler)  # a zlib stream
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def b64_answer(data: bytes) -> bytes:
    return json.dumps({"data": [{"b64_json": base64.b64encode(data).decode(), "seed": 1,
                                 "response_format": "png"}]}).encode()


def gzip_json(obj: object) -> bytes:
    return gzip.compress(json.dumps(obj).encode())


# ---- what the tests against it share ---------------------------------------------------------------

def no_status(behaviour):
    """The lifecycle route answers 404 (a server without it); everything else goes to ``behaviour``."""
    def answer(conn, request):
        if "/beta/endpoint/" in request.path:
            return respond(conn, 404, b"{}")
        return behaviour(conn, request)
    return answer


def edits(server):
    return [r for r in server.requests if "/images/edits" in r.path]


def client_for(client_pkg, server, **kw):
    args = dict(token=TOKEN, base_url=server.base_url, backoff_factor=0.01, read_timeout=30) | kw
    return client_pkg.FriendliImageClient(**args)


def edit(client, **kw):
    return client.edit(photo(8, 8), "x", **({"endpoint_id": "e", "seed": 1} | kw))
