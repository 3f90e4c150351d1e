"""The team's Dedicated Endpoints for the endpoint picker: ids, states, names and GPUs, all bounded.

``GET /dedicated/beta/endpoint?cursor=&limit=`` (beta in the official SDK 0.16.5; the same key and team
header as the edit route) answers ``{"data": {ENDPOINT_ID: {status, phase, errorCode, createdAt,
updatedAt}}, "nextCursor": str | null}``; ``GET /dedicated/beta/endpoint/{id}`` is the endpoint's spec
(``name``, ``gpuType``, ``numGpu``, …, read by ``Lifecycle.info``).

The answers are untrusted text for the browser: at most MAX_PAGES pages of at most PAGE_MAX_BYTES each and
MAX_ENDPOINTS endpoints; ids are printable, without spaces, at most ID_MAX characters, and never hold the
key; every other text is scrubbed and shortened; a cursor seen before, a malformed later page or the time
budget ends the listing with what was read (``truncated``). The spec of the first DESCRIBED endpoints is
asked, WORKERS at a time. Everything within BUDGET seconds (each request also within the lifecycle's
10 s status timeout); past it, open connections are shut down.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from .errors import FriendliAuthError, FriendliError, FriendliTimeoutError, scrub
from .lifecycle import PHASES, STATUSES, Lifecycle, _secrets
from .transport import CancelScope, error_for_status

PAGE_SIZE = 20  # the SDK's default page size (the API's maximum is undocumented)
MAX_PAGES = 10
MAX_ENDPOINTS = 200
PAGE_MAX_BYTES = 1 << 20  # a page of PAGE_SIZE endpoints is a few KiB
DESCRIBED = 50  # endpoints whose name and GPU are asked
WORKERS = 4  # spec requests at a time
BUDGET = 20.0  # seconds for the whole listing, specs included
ID_MAX = 128
CURSOR_MAX = 1024
UNAVAILABLE = ("this server does not offer the endpoint list (a proxy or a Friendli Container?); type the "
               "endpoint id from Friendli Suite > Endpoints")
MALFORMED = ("the server's endpoint list is not in the expected form; type the endpoint id from Friendli Suite > "
             "Endpoints")


@dataclass(frozen=True)
class ListedEndpoint:
    """One endpoint of the list: its id, state (one of lifecycle.STATUSES or None), phase, and from its spec
    the name and GPU ("NVIDIA H100 × 2"), None when unknown."""

    id: str
    status: str | None = None
    phase: str | None = None
    name: str | None = None
    gpu: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "status": self.status, "phase": self.phase, "gpu": self.gpu}


@dataclass
class EndpointList:
    """The listing: ``available`` False with a ``reason`` (and ``code``: "unavailable" or "malformed") when the
    server has no usable list; ``truncated`` when more endpoints may exist than are listed."""

    endpoints: list[ListedEndpoint] = field(default_factory=list)
    truncated: bool = False
    available: bool = True
    code: str | None = None
    reason: str | None = None


def list_endpoints(lifecycle: Lifecycle, *, page_size: int = PAGE_SIZE, max_pages: int = MAX_PAGES,
                   max_endpoints: int = MAX_ENDPOINTS, describe: int = DESCRIBED, workers: int = WORKERS,
                   budget: float = BUDGET) -> EndpointList:
    """The endpoints the lifecycle's key (and team) can see at its base URL. Raises FriendliAuthError for a
    refused key or team and other FriendliErrors when the first page cannot be had (no connection, an error
    status, the budget); later pages and specs only shorten the list."""
    secrets = _secrets(lifecycle.headers)
    scope = CancelScope(deadline=budget)
    late = (f"the list did not arrive within {budget:g} s; try again, or type the endpoint id from Friendli "
            "Suite > Endpoints")
    timer = threading.Timer(budget, scope.cancel, args=(FriendliTimeoutError(late),))
    timer.daemon = True
    timer.start()
    try:
        try:
            with scope.active(secrets=secrets):
                listing = _pages(lifecycle, scope, secrets, page_size, max_pages, max_endpoints)
        except FriendliError:
            if scope.stopped or (scope.remaining() or 0) <= 0:  # the budget cut it: say so, not how the socket ended
                raise FriendliTimeoutError(late) from None
            raise
        if listing.available and describe > 0:
            listing.endpoints = _describe(lifecycle, listing.endpoints, scope, secrets, describe, workers)
        return listing
    finally:
        timer.cancel()


def _pages(lifecycle: Lifecycle, scope: CancelScope, secrets: tuple[str, ...], page_size: int, max_pages: int,
           max_endpoints: int) -> EndpointList:
    found: dict[str, ListedEndpoint] = {}
    cursors: set[str] = set()
    cursor: str | None = None
    for number in range(max_pages):
        query = {"limit": page_size, **({"cursor": cursor} if cursor else {})}
        url = f"{lifecycle.base_url}/dedicated/beta/endpoint?{urlencode(query)}"
        try:
            code, body = lifecycle.send("GET", url, limit=PAGE_MAX_BYTES + 1, deadline=scope.deadline)
        except FriendliError:
            if number == 0:
                raise
            return EndpointList(list(found.values()), truncated=True)
        if code != 200:
            if code in (401, 403):
                raise error_for_status(code, body, lifecycle.base_url, secrets)
            if number > 0:
                return EndpointList(list(found.values()), truncated=True)
            if code in (404, 405, 501):
                return EndpointList(available=False, code="unavailable", reason=UNAVAILABLE)
            raise error_for_status(code, body, lifecycle.base_url, secrets)
        page = parse_page(body, secrets)
        if page is None:
            if number == 0:
                return EndpointList(available=False, code="malformed", reason=MALFORMED)
            return EndpointList(list(found.values()), truncated=True)
        items, next_cursor, more = page
        for item in items:
            if item.id in found:
                continue
            if len(found) >= max_endpoints:
                return EndpointList(list(found.values()), truncated=True)
            found[item.id] = item
        if next_cursor is None or next_cursor in cursors:  # the end, a cursor it cannot follow, or a loop
            return EndpointList(list(found.values()), truncated=more or next_cursor is not None)
        cursors.add(next_cursor)
        cursor = next_cursor
    return EndpointList(list(found.values()), truncated=True)


def parse_page(body: bytes, secrets: tuple[str, ...] = ()) -> tuple[list[ListedEndpoint], str | None, bool] | None:
    """(endpoints, next cursor, whether a cursor was given that cannot be followed) of one page, or None when
    it is not a page (too large, not JSON, too deep, not ``{"data": {…} | null}``). Entries with unusable ids are
    left out; a status or phase outside the SDK's values is None."""
    if len(body) > PAGE_MAX_BYTES:
        return None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or "data" not in data or not isinstance(data["data"], (dict, type(None))):
        return None
    items = []
    for key, value in (data["data"] or {}).items():  # the SDK's model allows "data": null (no endpoints)
        endpoint_id = valid_id(key, secrets)
        if endpoint_id is None:
            continue
        value = value if isinstance(value, dict) else {}
        status, phase = value.get("status"), value.get("phase")
        status = status.strip().upper() if isinstance(status, str) else None
        items.append(ListedEndpoint(endpoint_id, status if status in STATUSES else None,
                                    phase if phase in PHASES else None))
    raw = data.get("nextCursor", data.get("next_cursor"))
    cursor = raw if isinstance(raw, str) and 0 < len(raw) <= CURSOR_MAX and raw.isprintable() and " " not in raw \
        else None
    return items, cursor, cursor is None and raw is not None and raw != ""


def valid_id(value: Any, secrets: tuple[str, ...] = ()) -> str | None:
    """``value`` when it can be an endpoint id to show and send: printable text without spaces, 1 to ID_MAX
    characters, holding no key."""
    if not isinstance(value, str) or not 0 < len(value) <= ID_MAX or not value.isprintable():
        return None
    if any(c.isspace() for c in value) or scrub(value, secrets) != value:
        return None
    return value


def gpu_text(gpu_type: Any, count: Any) -> str | None:
    """"NVIDIA H100 × 2" (the type alone when the count is unknown), or None."""
    if not isinstance(gpu_type, str) or not gpu_type:
        return None
    kind = gpu_type[:40]
    return f"{kind} × {count}" if isinstance(count, int) and not isinstance(count, bool) and count > 0 else kind


def _describe(lifecycle: Lifecycle, endpoints: list[ListedEndpoint], scope: CancelScope,
              secrets: tuple[str, ...], describe: int, workers: int) -> list[ListedEndpoint]:
    """``endpoints`` with the name and GPU of the first ``describe`` of them, as far as their specs came."""
    def one(endpoint: ListedEndpoint) -> ListedEndpoint:
        try:
            with scope.active(secrets=secrets):
                info = lifecycle.info(endpoint.id, deadline=scope.deadline)
        except FriendliAuthError:
            scope.drain()  # a key refused here is refused for the rest: ask no more
            return endpoint
        except FriendliError:
            return endpoint
        if not info:
            return endpoint
        return ListedEndpoint(endpoint.id, endpoint.status, endpoint.phase, info["name"],  # scrubbed by info()
                              gpu_text(info.get("gpu_type"), info.get("num_gpu")))

    head = endpoints[:describe]
    if not head:
        return endpoints
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(head))), thread_name_prefix="friendli-list") as pool:
        described = list(pool.map(lambda e: e if scope.closed.is_set() else one(e), head))
    return described + endpoints[describe:]
