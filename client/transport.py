"""HTTP: requests Sessions with urllib3's retry machinery, bounded reads, and a scope that stops them.

Retried: connection failures before the request got through, and answers 429/502/503/504
(exponential backoff with jitter, ``Retry-After`` honoured but never beyond the deadline); a 503
that says the endpoint is waking keeps being retried until the deadline. Never sent again: a
request the server received in full and did not answer (read timeout, reset or close after the
body, or a 500 from the endpoint itself) — it may have generated, and a second one would be paid
twice.

A ``CancelScope`` belongs to one run: cancelling it wakes sleeping retries and shuts down the
sockets of its requests in flight, so the threads that wait on them end at once.

Each attempt of an image request (``active(timed=True)``) reports when its body was sent
(``attempt_sent``) and when its answer's head came, or the attempt ended without one
(``attempt_done``, status None): the time it was at the endpoint, retry waits left out.
"""

from __future__ import annotations

import importlib.util
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.utils import select_proxy
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import DecodeError, LocationParseError, ReadTimeoutError
from urllib3.util import parse_url
from urllib3.util.retry import Retry

from .config import is_loopback_host, is_public_ip
from .errors import (
    FriendliAuthError,
    FriendliCancelledError,
    FriendliEndpointWakingError,
    FriendliError,
    FriendliNetworkError,
    FriendliNotFoundError,
    FriendliRateLimitError,
    FriendliResponseError,
    FriendliServerError,
    FriendliTimeoutError,
    FriendliValidationError,
    scrub,
)

if TYPE_CHECKING:
    from .scheduler import Lease

RETRY_STATUSES = frozenset({429, 502, 503, 504})  # the endpoint or its gateway asked for another try
ERROR_BODY_MAX = 8 * 1024  # enough to explain an error
BACKOFF_MAX = 30.0  # seconds between tries at most (also while an endpoint wakes)
CHUNK = 64 * 1024
_WAKING = re.compile(r"sleep|waking|wake up|initializ|cold start|scal\w* (?:up )?from zero", re.I)
REFUSED_RETRIES = 2  # a refused connection is tried this many more times (about 2 s), then explained
CAUSES = {"refused": "connection refused", "dropped": "connection dropped", "dns": "DNS", "tls": "TLS",
          "proxy": "proxy", "other": "network error"}  # a retry's cause, as the progress line says it
_PREFIX = "friendli_body_prefix"  # attribute on a urllib3 response whose body the retry hook consumed

Event = dict[str, Any]


class CancelScope:
    """The stop switch and deadline of one run, shared by all of its requests and threads."""

    def __init__(self, deadline: float | None = None) -> None:
        self.deadline = None if deadline is None else time.monotonic() + deadline
        self.event = threading.Event()  # set once the scope is stopped
        self.closed = threading.Event()  # set once no new request may start (stopped or draining)
        self._error: FriendliError | None = None
        self._drain_error: FriendliError | None = None
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()

    @property
    def stopped(self) -> bool:
        return self.event.is_set()

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def cancel(self, error: FriendliError | None = None) -> None:
        """Stop everything of the scope: later checks raise ``error``; open sockets are shut down."""
        with self._lock:
            if self._error is None:
                self._error = error or FriendliCancelledError("cancelled by the user")
            self.event.set()
            self.closed.set()
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)

    def drain(self, error: FriendliError | None = None) -> None:
        """No new request starts (later ``check_new`` raise ``error``); requests already sent run to
        their answer, since the endpoint may be doing (and billing) their work."""
        with self._lock:
            if self._drain_error is None:
                self._drain_error = error or FriendliCancelledError("skipped: another request of this run failed")
            self.closed.set()

    @property
    def draining(self) -> bool:
        return self.closed.is_set() and not self.stopped

    def check_new(self) -> None:
        """Raise unless a new request may start now (``check``, then the drain's error)."""
        self.check()
        if self.closed.is_set():
            raise FriendliCancelledError(str(self._drain_error or "skipped"))

    def check(self) -> None:
        """Raise the scope's error when it is stopped or its deadline has passed."""
        remaining = self.remaining()
        if remaining is not None and remaining <= 0 and not self.stopped:
            self.cancel(FriendliTimeoutError(
                "no answer within the total deadline; the endpoint may be busy or waking up, try again "
                "or raise the deadline"))
        if self.stopped:
            error = self._error or FriendliCancelledError("cancelled by the user")
            if type(error) in (FriendliCancelledError, FriendliTimeoutError):
                raise type(error)(str(error))  # a fresh one per thread
            raise error

    def sleep(self, seconds: float, what: str) -> None:
        """Wait ``seconds`` before sending again unless stopped or drained first; never beyond the
        deadline (FriendliTimeoutError at once)."""
        self.check_new()
        remaining = self.remaining()
        if remaining is not None and seconds > remaining:
            raise FriendliTimeoutError(
                f"{what} asks to wait {seconds:.0f} s, beyond the {max(remaining, 0):.0f} s left of the deadline; "
                "try again later")
        if self.closed.wait(max(seconds, 0)):
            self.check_new()

    @contextmanager
    def active(self, emit: Callable[[Event], None] | None = None, on_status: Callable[[int], None] | None = None,
               secrets: tuple[str, ...] = (), public_only: bool = False,
               timed: bool = False) -> Iterator["RequestContext"]:
        """Run one request of the scope on this thread (its connections become cancellable); ``timed``: an
        image request, whose attempts report their time at the endpoint (see ``RequestContext``)."""
        ctx = RequestContext(self, emit, on_status, secrets, public_only=public_only, timed=timed)
        previous = getattr(_local, "ctx", None)
        _local.ctx = ctx
        try:
            self.check()
            yield ctx
        finally:
            ctx.attempt_done(None)  # e.g. Cancel broke the connection while the endpoint worked
            _local.ctx = previous
            with self._lock:
                self._sockets.difference_update(ctx.sockets)

    def _track(self, sock: socket.socket, ctx: "RequestContext") -> None:
        with self._lock:
            self._sockets.add(sock)
            ctx.sockets.append(sock)
            stopped = self.stopped
        if stopped:
            _shutdown(sock)


@dataclass
class RequestContext:
    """What the retry machinery and connections of one request need to know (thread-local)."""

    scope: CancelScope
    emit: Callable[[Event], None] | None
    on_status: Callable[[int], None] | None
    secrets: tuple[str, ...]
    sockets: list[socket.socket] = field(default_factory=list)
    public_only: bool = False  # connections must reach a public address (result downloads)
    waking: bool = False  # the last answer said the endpoint is waking up
    timed: bool = False  # report each attempt's time at the endpoint (``attempt_sent`` / ``attempt_done`` events)
    attempt_sent: float | None = None  # monotonic time the current attempt's body was sent, until its answer

    def attempt_done(self, status: int | None) -> None:
        """The current attempt ended (``status`` None: no answer, e.g. a reset, a read timeout or Cancel)."""
        start, self.attempt_sent = self.attempt_sent, None
        if start is not None and self.emit is not None:
            self.emit({"type": "attempt_done", "start": start, "end": time.monotonic(), "status": status})


_local = threading.local()


def current() -> RequestContext | None:
    return getattr(_local, "ctx", None)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


# ---- connections that a scope can shut down ---------------------------------------------------

class _Tracked:
    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self._track()
        ctx = current()
        if ctx is not None and ctx.public_only and getattr(self, "proxy", None) is None:
            self._check_peer()

    def _check_peer(self) -> None:
        """The address really connected to must be public (a DNS answer may change between check and use)."""
        try:
            peer = str(self.sock.getpeername()[0])  # type: ignore[attr-defined]
        except (OSError, AttributeError):
            return
        if not is_public_ip(peer):
            self.sock.close()  # type: ignore[attr-defined]
            raise FriendliResponseError(f"the result URL's host resolved to {peer}, a local or private address; "
                                        "refusing to fetch it (only a base URL on such an address may do that)")

    def request(self, *args: Any, **kwargs: Any) -> None:
        self._track()
        super().request(*args, **kwargs)  # type: ignore[misc]
        ctx = current()
        if ctx is not None and ctx.timed:  # the body is at the endpoint: from now on it works on it
            ctx.attempt_done(None)  # an earlier attempt that ended unseen (a broken connection)
            ctx.attempt_sent = time.monotonic()
            if ctx.emit is not None:
                ctx.emit({"type": "attempt_sent", "at": ctx.attempt_sent})

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        ctx = current()
        status = None
        try:
            response = super().getresponse(*args, **kwargs)  # type: ignore[misc]
            status = response.status
            return response
        finally:
            if ctx is not None and ctx.timed:
                ctx.attempt_done(status)

    def _track(self) -> None:
        ctx = current()
        sock = getattr(self, "sock", None)  # kept: http.client drops conn.sock while the response reads on
        if ctx is not None and sock is not None:
            ctx.scope._track(sock, ctx)


class _HTTPConnection(_Tracked, HTTPConnection):
    pass


class _HTTPSConnection(_Tracked, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _Adapter(HTTPAdapter):
    """An HTTPAdapter whose connections register with the current CancelScope, that never lets a proxy
    carry the key over plain http, and that explains a proxy setting it cannot use."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        if hasattr(manager, "pool_classes_by_scheme") and type(manager).__name__ != "SOCKSProxyManager":
            manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
        return manager

    def send(self, request: requests.PreparedRequest, *args: Any, proxies: dict[str, str] | None = None,
             **kwargs: Any) -> requests.Response:
        """Straight to a loopback host, and straight for any plain-http request with a key, whatever the
        environment's proxies (``all``, ``http``, any case): a proxy there would read the key in clear.
        https keeps its proxy, as a CONNECT tunnel with the certificate verified end to end."""
        url = urlsplit(request.url or "")
        if proxies and (is_loopback_host(url.hostname or "") or
                        url.scheme == "http" and "Authorization" in request.headers):
            proxies = {}
        proxy = select_proxy(request.url, proxies) if proxies else None
        if proxy:
            _check_proxy(proxy, host_of(request.url or ""))
        return super().send(request, *args, proxies=proxies, **kwargs)


PROXY_HELP = "check HTTPS_PROXY / ALL_PROXY (and NO_PROXY)"


def _check_proxy(proxy: str, host: str) -> None:
    """FriendliNetworkError (kind proxy) for a proxy URL from the environment that cannot be used, named by
    its scheme only (a proxy URL may hold a password)."""
    try:
        parsed = parse_url(proxy if "://" in proxy else f"http://{proxy}")
    except (LocationParseError, ValueError):
        parsed = None
    scheme = (parsed.scheme or "http").lower() if parsed is not None else ""
    if parsed is None or not parsed.host:
        problem = "the proxy set in the environment is not a valid URL"
    elif scheme.startswith("socks"):
        if importlib.util.find_spec("socks") is not None:  # PySocks: urllib3's SOCKS support works
            return
        problem = (f"the proxy set in the environment is a SOCKS proxy ({scheme}://), and SOCKS support is not "
                   "installed (pip install 'requests[socks]')")
    elif scheme not in ("http", "https"):
        problem = f"the proxy set in the environment has the scheme {scheme[:20]}://, not http, https or socks"
    else:
        return
    raise FriendliNetworkError(f"could not reach {host} (proxy): {problem}; {PROXY_HELP}", kind="proxy")


# ---- retries ------------------------------------------------------------------------------------

class ReportingRetry(Retry):
    """urllib3's Retry, told about the run: it stops with the scope (and sends nothing new once the
    run drains), reports each retry with its cause and wait, reads at most ERROR_BODY_MAX of an error
    body, keeps retrying a waking endpoint, gives up on a refused connection after REFUSED_RETRIES,
    and sleeps cancellably."""

    limit = 5  # the documented maximum of retries (waking answers aside); kept by ``new``

    def new(self, **kw: Any) -> "ReportingRetry":  # type: ignore[override]
        retry = super().new(**kw)
        retry.limit = self.limit
        return retry

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):  # type: ignore[override]
        ctx = current()
        if ctx is not None:
            ctx.scope.check_new()
        if isinstance(error, ReadTimeoutError):
            raise error
        prefix = _consume_prefix(response) if response is not None else b""
        status = response.status if response is not None else None
        waking = status == 503 and bool(_WAKING.search(prefix.decode("utf-8", "replace")))
        kind = _network_kind(error)[0] if status is None else ""
        base = self
        if waking:  # waking takes minutes: it does not use up the retries, only the deadline does
            base = self.new(total=self.total + 1 if isinstance(self.total, int) else self.total,
                            status=self.status + 1 if isinstance(self.status, int) else self.status)
        elif kind == "refused" and self._refused() >= REFUSED_RETRIES:
            base = self.new(connect=0)  # nothing listens there: say so within seconds
        retry = Retry.increment(base, method, url, response, error, _pool, _stacktrace)
        if ctx is not None:
            ctx.waking = waking
            if status is not None and ctx.on_status is not None:
                ctx.on_status(status)
            if ctx.emit is not None:
                retry_after = retry.get_retry_after(response) if response is not None else None
                attempt = self.limit - retry.total if isinstance(retry.total, int) else len(retry.history)
                ctx.emit({"type": "retry", "attempt": attempt, "max": self.limit, "status": status,
                          "reason": f"HTTP {status}" if status else CAUSES.get(kind, kind),
                          "wait": retry_after or retry.get_backoff_time(), "waking": waking})
        return retry

    def _refused(self) -> int:
        return sum(1 for h in self.history if h.error is not None and _network_kind(h.error)[0] == "refused")

    def parse_retry_after(self, retry_after: str) -> float | None:  # type: ignore[override]
        """Seconds to wait; an invalid value counts as absent (the backoff applies)."""
        try:
            return super().parse_retry_after(retry_after)
        except Exception:  # noqa: BLE001 - InvalidHeader and overflows alike
            return None

    def sleep(self, response: Any = None) -> None:
        asked = self.get_retry_after(response) if response is not None and self.respect_retry_after_header else None
        wait = asked or self.get_backoff_time()
        ctx = current()
        if ctx is None:
            time.sleep(min(wait, BACKOFF_MAX))
        else:
            ctx.scope.sleep(wait, "the endpoint (Retry-After)" if asked else "the retry backoff")

    def get_backoff_time(self) -> float:
        return min(super().get_backoff_time(), BACKOFF_MAX)


def _consume_prefix(response: Any) -> bytes:
    """Read at most ERROR_BODY_MAX of a response the retry machinery looks at, then close it so
    urllib3 never drains an endless body; the prefix stays on the response for the final error."""
    prefix = getattr(response, _PREFIX, None)
    if prefix is None:
        try:
            prefix = response.read(ERROR_BODY_MAX, decode_content=True) or b""
        except Exception:  # noqa: BLE001 - a broken error body explains nothing
            prefix = b""
        setattr(response, _PREFIX, prefix[:ERROR_BODY_MAX])
        response.close()
    return prefix


def make_session(max_retries: int = 5, backoff_factor: float = 0.5) -> requests.Session:
    """A Session whose adapters retry as described in the module docstring."""
    retry = ReportingRetry(
        total=max_retries, connect=max_retries, read=False, status=max_retries, other=0,
        redirect=False, allowed_methods=None, status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff_factor, backoff_max=BACKOFF_MAX, backoff_jitter=backoff_factor,
        respect_retry_after_header=True, raise_on_status=False, raise_on_redirect=False,
    )
    retry.limit = max_retries
    return _session(_Adapter(max_retries=retry, pool_connections=4, pool_maxsize=16))


def download_session() -> requests.Session:
    """A Session for ``url`` results: no retries, no auth, a pool as large as the API session's."""
    return _session(_Adapter(max_retries=0, pool_connections=4, pool_maxsize=16))


def _session(adapter: HTTPAdapter) -> requests.Session:
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


# ---- bounded reads --------------------------------------------------------------------------------

def read_body(response: requests.Response, limit: int, *, truncate: bool = False,
              deadline: float | None = None, what: str = "the answer", lease: Lease | None = None,
              weight: int = 1) -> bytes:
    """At most ``limit`` bytes of the (decompressed) body, read while streaming; then the response is
    closed. Over the limit: FriendliResponseError, or the first ``limit`` bytes with ``truncate``.
    ``deadline`` (monotonic) bounds the whole read; the current scope can stop it at any chunk.
    ``lease`` (the answer's share of the process memory budget) reserves a declared Content-Length
    ``weight`` times over before reading, or takes each chunk so before it is kept; its ``cap`` bounds all
    the reads of one answer together."""
    prefix = getattr(response.raw, _PREFIX, None)
    if prefix is not None:
        response.close()
        return prefix[:limit]
    try:
        declared = int(response.headers.get("Content-Length", "-1"))
    except ValueError:
        declared = -1
    ctx = current()
    expired = threading.Event()
    timer = None
    if deadline is not None and ctx is not None:  # a watchdog: a trickling server can block any single read
        def expire() -> None:
            expired.set()
            for sock in list(ctx.sockets):
                _shutdown(sock)
        timer = threading.Timer(max(deadline - time.monotonic(), 0.0), expire)
        timer.daemon = True
        timer.start()
    if lease is not None and lease.cap - lease.raw < limit:
        limit, what = max(lease.cap - lease.raw, 0), "the answer's results together"
    stop = ctx.scope.event if ctx is not None else threading.Event()
    chunks: list[bytes] = []
    size = 0
    try:
        if declared > limit and not truncate and "Content-Encoding" not in response.headers:
            raise _too_large(what, limit)
        if lease is not None and 0 < declared <= limit and "Content-Encoding" not in response.headers:
            lease.reserve(declared, weight, stop)  # all of it before the first byte: the read never waits halfway
        for chunk in response.raw.stream(CHUNK, decode_content=True):
            if ctx is not None:
                ctx.scope.check()
            if expired.is_set():
                break
            size += len(chunk)
            if size > limit:
                if not truncate:
                    raise _too_large(what, limit)
                chunks.append(chunk[:limit - (size - len(chunk))])
                break
            if lease is not None:
                lease.take(len(chunk), weight, stop)
            chunks.append(chunk)
    except Exception:
        if not expired.is_set():
            raise
    finally:
        if timer is not None:
            timer.cancel()
        response.close()
    if expired.is_set():
        raise FriendliTimeoutError(f"{what} did not arrive in time; it is coming in too slowly")
    return b"".join(chunks)


def _too_large(what: str, limit: int) -> FriendliResponseError:
    return FriendliResponseError(f"{what} is larger than {limit >> 20} MiB, far more than an image edit needs; "
                                 "refusing to read it (is the base URL the Friendli API?)")


# ---- errors ----------------------------------------------------------------------------------------

def server_detail(body: bytes, secrets: tuple[str, ...] = ()) -> tuple[str, list[dict[str, Any]]]:
    """The server's own words from an error body: (text, FastAPI-style detail list), secrets redacted."""
    text, details = _detail(body[:ERROR_BODY_MAX])
    clean = [{"loc": [p if isinstance(p, int) else scrub(str(p), secrets)[:40] for p in d.get("loc", [])[:8]]
              if isinstance(d.get("loc"), list) else [],
              "msg": scrub(str(d.get("msg", "")), secrets)[:200], "type": scrub(str(d.get("type", "")), secrets)[:40]}
             for d in details]  # only what explains the error: no echoed input, no secret
    return scrub(text, secrets)[:500], clean


def _detail(body: bytes) -> tuple[str, list[dict[str, Any]]]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        text = body[:300].decode("utf-8", "replace").strip()
        if text.lower().startswith(("<!doctype html", "<html")):
            return "an HTML page answered instead of the API (a proxy or gateway in between?)", []
        return text, []
    if not isinstance(data, dict):
        return _short_json(data), []
    detail = data.get("detail")
    if isinstance(detail, list):
        items = [d for d in detail[:50] if isinstance(d, dict)]
        lines = []
        for d in items:
            loc = d.get("loc") if isinstance(d.get("loc"), list) else []
            where = ".".join(str(p)[:40] for p in loc[:8] if p != "body") or "request"
            lines.append(f"{where}: {str(d.get('msg', 'invalid'))[:200]}")
        return "; ".join(lines), items
    error = data.get("error")
    for text in (detail, data.get("message"), error.get("message") if isinstance(error, dict) else error):
        if isinstance(text, str) and text:
            return text[:500], []
    return _short_json(data), []


def _short_json(data: Any) -> str:
    try:
        return json.dumps(data)[:300]
    except (ValueError, RecursionError):
        return "an unreadable JSON answer"


def error_for_status(status: int, body: bytes, base_url: str, secrets: tuple[str, ...] = ()) -> FriendliError:
    """The exception for a non-2xx answer, with what to do about it."""
    text, details = server_detail(body, secrets)
    said = f": {text}" if text else ""
    if status in (401, 403):
        return FriendliAuthError(
            f"HTTP {status}, the API key was not accepted{said}. Check FRIENDLI_TOKEN or the key saved in "
            "Settings > Friendli, and that its team (FRIENDLI_TEAM / the team setting) may use this endpoint",
            status=status)
    if status == 404:
        return FriendliNotFoundError(
            f"HTTP 404{said}. Check the endpoint id (and adapter route) and the base URL {base_url}", status=404)
    if status == 422:
        return FriendliValidationError(f"the endpoint rejected the request (HTTP 422){said}", details=details)
    if status == 429:
        return FriendliRateLimitError(
            f"HTTP 429, rate or queue limit reached after all retries{said}. Wait and try again, lower the "
            "node's concurrency, or raise the endpoint's limits", status=429)
    if status == 503 and _WAKING.search(text):
        return FriendliEndpointWakingError(
            f"the endpoint is asleep and waking up (HTTP 503){said}. Waking takes minutes: queue the "
            "prompt again shortly, or set the endpoint's minimum replicas above 0", status=503)
    if status >= 500:
        how = "after all retries" if status in RETRY_STATUSES else "(not sent again: it may have done the work)"
        return FriendliServerError(
            f"the endpoint failed with HTTP {status} {how}{said}. Try again later; if it persists check the "
            "endpoint's status in Friendli Suite", status=status)
    if 300 <= status < 400:
        return FriendliResponseError(
            f"HTTP {status}: the server redirects elsewhere; set the base URL to the final address "
            f"(it is now {base_url})", status=status)
    return FriendliError(f"unexpected HTTP {status}{said}", status=status)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        e = todo.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [getattr(e, "reason", None), e.__cause__, e.__context__]
        todo += [a for a in getattr(e, "args", ()) if isinstance(a, BaseException)]


def _network_kind(exc: BaseException | None) -> tuple[str, str]:
    """(kind, advice) for a failure without an answer."""
    if exc is None:
        return "other", ""
    names = " ".join(type(e).__name__ for e in _causes(exc))
    text = " ".join(str(e) for e in _causes(exc)).lower()
    if "SSLError" in names or "certificate" in text:
        return "tls", ("the TLS certificate could not be verified; behind a corporate proxy set "
                       "REQUESTS_CA_BUNDLE (or SSL_CERT_FILE) to your CA bundle")
    if "ProxyError" in names:
        return "proxy", f"the proxy refused or failed; {PROXY_HELP}"
    if "NameResolution" in names or "getaddrinfo" in text or "name or service not known" in text:
        return "dns", "the host name could not be resolved; check the base URL and your network or DNS"
    if "NewConnectionError" in names or "ConnectionRefused" in names or "refused" in text:
        return "refused", "nothing accepted the connection; check the base URL and that the server is running"
    if "ProtocolError" in names or "RemoteDisconnected" in names or "aborted" in text or "reset" in text:
        return "dropped", ("the connection closed after the request was sent, without an answer. The endpoint "
                           "may have received it and done the work; it is not sent again automatically")
    return "other", "check your network connection and the base URL"


def error_for_exception(exc: BaseException, host: str, read_timeout: float) -> FriendliError:
    """Translate a requests/urllib3/socket exception into one of ours, naming the host, never the token."""
    if isinstance(exc, FriendliError):
        return exc
    if isinstance(exc, (requests.ReadTimeout, ReadTimeoutError)) or isinstance(exc, socket.timeout):
        return FriendliTimeoutError(
            f"{host} sent no answer within the read timeout of {read_timeout:g} s; image generation or "
            "waking the endpoint can take longer, raise the read timeout")
    if isinstance(exc, requests.ConnectTimeout):
        return FriendliTimeoutError(f"could not connect to {host} in time; check the base URL and your network")
    if any(isinstance(e, DecodeError) for e in _causes(exc)):
        return FriendliResponseError(f"{host} sent a compressed answer that could not be decompressed")
    if isinstance(exc, (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL, ValueError)):
        return FriendliResponseError(f"{host} answered with an invalid header or redirect address")
    kind, advice = _network_kind(exc)
    prefix = f"the connection to {host} failed" if kind == "dropped" else f"could not reach {host}"
    return FriendliNetworkError(f"{prefix} ({kind}): {advice}", kind=kind)


def host_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc.rpartition("@")[2] or url


def parse_json(body: bytes) -> Any:
    """The JSON of a 200 answer, or a clear error when it is something else."""
    try:
        return json.loads(body)
    except RecursionError:
        raise FriendliResponseError("the endpoint answered 200 with JSON nested too deeply to be an answer") from None
    except ValueError:
        text, _ = server_detail(body)
        raise FriendliResponseError(f"the endpoint answered 200 with something that is not JSON ({text[:120]!r})") from None


def proxies_for(url: str) -> dict[str, None] | None:
    """No proxy at all for a loopback URL (a plain-http key for this machine must not reach a proxy);
    None (the environment's proxies) otherwise. The adapter enforces this for every request (``_Adapter.send``)."""
    return {"http": None, "https": None, "all": None} if is_loopback_host(urlsplit(url).hostname or "") else None
