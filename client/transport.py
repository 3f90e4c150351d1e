"""HTTP: a requests Session with urllib3's retry machinery, and errors that explain.

Retried: connection failures, answers 429/500/502/503/504 (exponential backoff
with jitter, ``Retry-After`` honoured). Not retried: read timeouts (the endpoint
may still be generating; a second request would pay twice) and other 4xx.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

from .errors import (
    FriendliAuthError,
    FriendliEndpointWakingError,
    FriendliError,
    FriendliNetworkError,
    FriendliNotFoundError,
    FriendliRateLimitError,
    FriendliResponseError,
    FriendliServerError,
    FriendliTimeoutError,
    FriendliValidationError,
)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_WAKING = re.compile(r"sleep|waking|wake up|initializ|cold start|scal\w* (?:up )?from zero", re.I)

RetryHook = Callable[[dict[str, Any]], None]


class ReportingRetry(Retry):
    """urllib3's Retry that tells ``on_retry`` about each retry and never retries a read timeout."""

    on_retry: RetryHook | None = None

    def new(self, **kw: Any) -> "ReportingRetry":
        retry = super().new(**kw)
        retry.on_retry = self.on_retry
        return retry

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):  # type: ignore[override]
        if isinstance(error, ReadTimeoutError):
            raise error
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        if self.on_retry is not None:
            status = response.status if response is not None else None
            body = response.data[:2000].decode("utf-8", "replace") if response is not None else ""
            self.on_retry({
                "type": "retry",
                "attempt": len(retry.history),
                "status": status,
                "reason": f"HTTP {status}" if status else _network_kind(error)[0],
                "wait": (retry.get_retry_after(response) if response is not None else None) or retry.get_backoff_time(),
                "waking": status == 503 and bool(_WAKING.search(body)),
            })
        return retry


def make_session(max_retries: int = 5, backoff_factor: float = 0.5, on_retry: RetryHook | None = None) -> requests.Session:
    """A Session whose adapters retry as described in the module docstring."""
    retry = ReportingRetry(
        total=max_retries, connect=max_retries, read=max_retries, status=max_retries, other=0,
        redirect=False, allowed_methods=None, status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff_factor, backoff_max=60.0, backoff_jitter=backoff_factor,
        respect_retry_after_header=True, raise_on_status=False, raise_on_redirect=False,
    )
    retry.on_retry = on_retry
    return _session(HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=16))


def download_session() -> requests.Session:
    """A Session for ``url`` results: no retries, no auth, a pool as large as the API session's."""
    return _session(HTTPAdapter(pool_connections=4, pool_maxsize=16))


def _session(adapter: HTTPAdapter) -> requests.Session:
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def server_detail(body: bytes) -> tuple[str, list[dict[str, Any]]]:
    """The server's own words from a JSON error body: (text, FastAPI-style detail list)."""
    try:
        data = json.loads(body)
    except ValueError:
        text = body[:300].decode("utf-8", "replace").strip()
        if text.lower().startswith(("<!doctype html", "<html")):
            return "an HTML page answered instead of the API (a proxy or gateway in between?)", []
        return text, []
    if not isinstance(data, dict):
        return str(data)[:300], []
    detail = data.get("detail")
    if isinstance(detail, list):
        items = [d for d in detail if isinstance(d, dict)]
        lines = []
        for d in items:
            loc = ".".join(str(p) for p in d.get("loc", []) if p != "body") or "request"
            lines.append(f"{loc}: {d.get('msg', 'invalid')}")
        return "; ".join(lines), items
    error = data.get("error")
    for text in (detail, data.get("message"), error.get("message") if isinstance(error, dict) else error):
        if isinstance(text, str) and text:
            return text, []
    return json.dumps(data)[:300], []


def error_for_status(status: int, body: bytes, base_url: str) -> FriendliError:
    """The exception for a non-2xx answer, with what to do about it."""
    text, details = server_detail(body)
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
        return FriendliServerError(
            f"the endpoint failed with HTTP {status} after all retries{said}. Try again later; if it "
            "persists check the endpoint's status in Friendli Suite", status=status)
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
    """(kind, advice) for a failure before any answer arrived."""
    if exc is None:
        return "other", ""
    names = " ".join(type(e).__name__ for e in _causes(exc))
    text = " ".join(str(e) for e in _causes(exc)).lower()
    if "SSLError" in names or "certificate" in text:
        return "tls", ("the TLS certificate could not be verified; behind a corporate proxy set "
                       "REQUESTS_CA_BUNDLE (or SSL_CERT_FILE) to your CA bundle")
    if "ProxyError" in names:
        return "proxy", "the proxy refused or failed; check HTTPS_PROXY, HTTP_PROXY and NO_PROXY"
    if "NameResolution" in names or "getaddrinfo" in text or "name or service not known" in text:
        return "dns", "the host name could not be resolved; check the base URL and your network or DNS"
    if "ConnectionRefused" in names or "refused" in text:
        return "refused", "nothing accepted the connection; check the base URL and that the server is running"
    if "RemoteDisconnected" in names or "aborted" in text or "reset" in text:
        return "dropped", "the server closed the connection without answering; try again"
    return "other", "check your network connection and the base URL"


def error_for_exception(exc: requests.RequestException, host: str, read_timeout: float) -> FriendliError:
    """Translate a requests exception into one of ours, naming the host, never the token."""
    if isinstance(exc, requests.ReadTimeout):
        return FriendliTimeoutError(
            f"{host} sent no answer within the read timeout of {read_timeout:g} s; image generation or "
            "waking the endpoint can take longer, raise the read timeout")
    if isinstance(exc, requests.ConnectTimeout):
        return FriendliTimeoutError(f"could not connect to {host} in time; check the base URL and your network")
    kind, advice = _network_kind(exc)
    return FriendliNetworkError(f"could not reach {host} ({kind}): {advice}", kind=kind)


def host_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc.rpartition("@")[2] or url


def parse_json(body: bytes) -> Any:
    """The JSON of a 200 answer, or a clear error when it is something else."""
    try:
        return json.loads(body)
    except ValueError:
        text, _ = server_detail(body)
        raise FriendliResponseError(f"the endpoint answered 200 with something that is not JSON ({text[:120]!r})") from None
