"""The endpoint picker's list: GET /friendli/endpoints against the emulator (pages through nextCursor, the
stored key only to trusted hosts, behind the origin guard, never the key in the answer) and the listing
client (client/endpoints.py) against hostile list servers: every bound holds (pages, items, text, time)."""

from __future__ import annotations

import importlib
import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from helpers import ROUTE_OTHER, ROUTE_TOKEN, TOKEN, call
from hostile import HostileServer, respond, until_hangup

SECRETS = (TOKEN, ROUTE_TOKEN, ROUTE_OTHER)


@pytest.fixture
def endpoints_mod(pack):
    return importlib.import_module(pack.__name__ + ".client.endpoints")


@pytest.fixture
def lifecycle_for(client_pkg):
    """A Lifecycle with TOKEN at a base URL (closed after the test)."""
    clients = []

    def make(base_url: str):
        client = client_pkg.FriendliImageClient(token=TOKEN, base_url=base_url)
        clients.append(client)
        return client.lifecycle()
    yield make
    for client in clients:
        client.close()


def list_requests(emulator):
    return [r for r in emulator.endpoint_requests if urlsplit(r.path).path == "/dedicated/beta/endpoint"]


def spec_requests(emulator):
    return [r for r in emulator.endpoint_requests if urlsplit(r.path).path != "/dedicated/beta/endpoint"]


# ---- the route against the emulator ----------------------------------------------------------------

@pytest.mark.asyncio
async def test_route_pages_through_next_cursor(client, emulator, monkeypatch):
    monkeypatch.setenv("FRIENDLI_BASE_URL", emulator.base_url)
    monkeypatch.setenv("FRIENDLI_TOKEN", TOKEN)
    for i in range(45):
        emulator.add_endpoint(f"ep-{i:02d}", name=f"Flux edit {i}", gpuType="NVIDIA A100 80GB", numGpu=1 + i % 2)
    emulator.endpoints["ep-03"].sleep()
    status, data = await call(client, "GET", "/friendli/endpoints", SECRETS)
    assert status == 200 and data["available"] is True and data["truncated"] is False
    rows = data["endpoints"]
    assert [r["id"] for r in rows] == sorted([f"ep-{i:02d}" for i in range(45)] + ["test-endpoint"])
    assert rows[0] == {"id": "ep-00", "name": "Flux edit 0", "status": "RUNNING", "phase": None,
                       "gpu": "NVIDIA A100 80GB × 1"}
    assert rows[1]["gpu"] == "NVIDIA A100 80GB × 2" and rows[3]["status"] == "SLEEPING"
    pages = list_requests(emulator)
    cursors = [parse_qs(urlsplit(r.path).query).get("cursor") for r in pages]
    assert len(pages) == 3 and cursors[0] is None and all(cursors[1:])  # 20 + 20 + 6, each after the last
    assert {r.header("Authorization") for r in emulator.endpoint_requests} == {f"Bearer {TOKEN}"}
    assert len(spec_requests(emulator)) == 46  # every one described (at most 50 are)
    assert [r["name"] for r in rows].count(None) == 0
    assert emulator.requests == [] and emulator.lifecycle_requests == []  # no edit, no wake


@pytest.mark.asyncio
async def test_route_sends_the_stored_key_and_team(client, emulator, monkeypatch, cred_path):
    monkeypatch.setenv("FRIENDLI_BASE_URL", emulator.base_url)
    status, _ = await call(client, "POST", "/friendli/credentials", SECRETS, json={"token": TOKEN, "team": "team-a"})
    assert status == 200
    status, data = await call(client, "GET", "/friendli/endpoints", SECRETS)
    assert status == 200 and [r["id"] for r in data["endpoints"]] == ["test-endpoint"]
    assert {r.header("X-Friendli-Team") for r in emulator.endpoint_requests} == {"team-a"}
    status, data = await call(client, "GET", "/friendli/endpoints?team=team-b", SECRETS)
    assert status == 200 and emulator.endpoint_requests[-1].header("X-Friendli-Team") == "team-b"


@pytest.mark.asyncio
async def test_route_refuses_other_origins(client, emulator, monkeypatch):
    monkeypatch.setenv("FRIENDLI_BASE_URL", emulator.base_url)
    monkeypatch.setenv("FRIENDLI_TOKEN", TOKEN)
    for origin in ("http://evil.example", "null"):
        status, data = await call(client, "GET", "/friendli/endpoints", SECRETS, headers={"Origin": origin})
        assert status == 403 and "endpoints" not in data
    assert emulator.endpoint_requests == []
    host = f"{client.server.host}:{client.server.port}"
    status, data = await call(client, "GET", "/friendli/endpoints", SECRETS, headers={"Origin": f"http://{host}"})
    assert status == 200 and data["available"]


@pytest.mark.asyncio
async def test_route_without_a_key_says_why(client, emulator, monkeypatch):
    monkeypatch.setenv("FRIENDLI_BASE_URL", emulator.base_url)
    status, data = await call(client, "GET", "/friendli/endpoints", SECRETS)
    assert status == 200 and data["available"] is False and data["code"] == "no_key"
    assert "Settings > Friendli" in data["reason"]
    assert emulator.endpoint_requests == []


@pytest.mark.asyncio
async def test_route_without_the_list_route_says_why(client, emulator, monkeypatch):
    monkeypatch.setenv("FRIENDLI_BASE_URL", emulator.base_url)
    monkeypatch.setenv("FRIENDLI_TOKEN", TOKEN)
    monkeypatch.setattr(emulator, "lifecycle_routes", False)  # a proxy or a container: 404
    status, data = await call(client, "GET", "/friendli/endpoints", SECRETS)
    assert status == 200 and data == {"available": False, "code": "unavailable", "reason": data["reason"]}
    assert "type the endpoint id" in data["reason"]


@pytest.mark.asyncio
async def test_route_refused_key_is_an_error(client, emulator, monkeypatch):
    monkeypatch.setenv("FRIENDLI_BASE_URL", emulator.base_url)
    monkeypatch.setenv("FRIENDLI_TOKEN", "flp_wrong-key-1234")
    status, data = await call(client, "GET", "/friendli/endpoints", SECRETS + ("flp_wrong-key-1234",))
    assert status == 502 and "not accepted" in data["error"]


@pytest.mark.asyncio
async def test_route_sends_the_key_only_to_trusted_hosts(client, emulator, monkeypatch, cred_path):
    monkeypatch.setenv("FRIENDLI_BASE_URL", emulator.base_url)
    monkeypatch.setenv("FRIENDLI_TOKEN", TOKEN)
    page = json.dumps({"data": {"proxied-1": {"status": "RUNNING"}}, "nextCursor": None}).encode()
    with HostileServer(lambda conn, request: respond(conn, 200, page)) as other:
        for base_url in (other.base_url, "https://evil.example", "http://10.0.0.5:8000"):
            status, data = await call(client, "GET", "/friendli/endpoints", SECRETS, params={"base_url": base_url})
            assert status == 400 and data["error"].startswith("base_url:"), data
        assert other.requests == []
        status, _ = await call(client, "POST", "/friendli/preferences", SECRETS,
                               json={"trusted_hosts": [f"127.0.0.1:{other.port}"]})
        assert status == 200
        status, data = await call(client, "GET", "/friendli/endpoints", SECRETS, params={"base_url": other.base_url})
        assert status == 200 and [r["id"] for r in data["endpoints"]] == ["proxied-1"]
        assert other.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
    status, data = await call(client, "GET", "/friendli/endpoints", SECRETS, params={"base_url": "x" * 3000})
    assert status == 400


@pytest.mark.asyncio
async def test_route_answers_a_hostile_list_bounded(client, monkeypatch):
    """1000 ids with names full of control characters and the key: 200 rows, clean text, no key."""
    def behaviour(conn, request):
        path = urlsplit(request.path).path
        if path == "/dedicated/beta/endpoint":
            data = {f"id-{i:04d}": {"status": "RUNNING"} for i in range(1000)}
            return respond(conn, 200, json.dumps({"data": data, "nextCursor": None}).encode())
        name = f"\x1b[2J{TOKEN}\n\u202eevil\x00" + "n" * 500
        return respond(conn, 200, json.dumps({"name": name, "gpuType": "\x07GPU" * 100, "numGpu": 10**12}).encode())

    with HostileServer(behaviour) as server:
        monkeypatch.setenv("FRIENDLI_BASE_URL", server.base_url)
        monkeypatch.setenv("FRIENDLI_TOKEN", TOKEN)
        status, data = await call(client, "GET", "/friendli/endpoints", SECRETS)
    assert status == 200 and data["available"] and data["truncated"] is True
    rows = data["endpoints"]
    assert len(rows) == 200 and len(server.requests) == 1 + 50
    for row in rows[:50]:
        assert row["name"].isprintable() and len(row["name"]) <= 80 and "[redacted]" in row["name"]
        assert row["gpu"].isprintable() and len(row["gpu"]) <= 40 and "×" not in row["gpu"]  # no count beyond 10^7
    assert all(r["name"] is None and r["gpu"] is None for r in rows[50:])


# ---- the listing client against hostile servers ---------------------------------------------------

def page(data, cursor=None) -> bytes:
    return json.dumps({"data": data, "nextCursor": cursor}).encode()


def serve_pages(pages: dict[str | None, bytes], spec: bytes = b"{}"):
    """A list server answering ``pages[cursor]`` (a missing cursor: 404) and ``spec`` for each endpoint."""
    def behaviour(conn, request):
        url = urlsplit(request.path)
        if url.path != "/dedicated/beta/endpoint":
            return respond(conn, 200, spec)
        cursor = parse_qs(url.query).get("cursor", [None])[0]
        return respond(conn, 200, pages[cursor]) if cursor in pages else respond(conn, 404, b"{}")
    return behaviour


def lists(server):
    return [r for r in server.requests if urlsplit(r.path).path == "/dedicated/beta/endpoint"]


def test_wrong_types_are_left_out(endpoints_mod, lifecycle_for):
    data = {"ok-1": {"status": "sleeping", "phase": "DOWNLOADING_MODEL"}, "ok-2": "RUNNING", "ok-3": [1, 2],
            "ok-4": {"status": 5, "phase": {"x": 1}}, "has space": {}, "x" * 129: {}, "\x1b[2J": {},
            "flp_" + "A" * 30: {}, TOKEN: {}, "": {}}
    spec = json.dumps({"name": ["not", "text"], "gpuType": 7, "numGpu": "2"}).encode()
    with HostileServer(serve_pages({None: page(data, cursor=12345)}, spec)) as server:
        listing = endpoints_mod.list_endpoints(lifecycle_for(server.base_url))
    assert [e.id for e in listing.endpoints] == ["ok-1", "ok-2", "ok-3", "ok-4"]
    first = listing.endpoints[0]
    assert (first.status, first.phase, first.name, first.gpu) == ("SLEEPING", "DOWNLOADING_MODEL", None, None)
    assert all(e.status is None and e.phase is None for e in listing.endpoints[1:])
    assert listing.truncated is True  # a cursor that cannot be followed: more may exist
    assert len(lists(server)) == 1


@pytest.mark.parametrize("body, code", [
    (b'{"data": {"a": {}}, "pad": "' + b"x" * (2 << 20) + b'"}', "malformed"),  # a page over 1 MiB
    (b"[" * 100_000 + b"]" * 100_000, "malformed"),
    (b"<html>gateway</html>", "malformed"),
    (b'{"data": [{"id": "a"}]}', "malformed"),
    (b"{}", "malformed"),
    (b"null", "malformed"),
])
def test_a_first_page_that_is_no_page(endpoints_mod, lifecycle_for, body, code):
    with HostileServer(serve_pages({None: body})) as server:
        started = time.monotonic()
        listing = endpoints_mod.list_endpoints(lifecycle_for(server.base_url))
    assert (listing.available, listing.code, listing.endpoints) == (False, code, [])
    assert time.monotonic() - started < 5 and len(server.requests) == 1


def test_no_endpoints(endpoints_mod, lifecycle_for):
    with HostileServer(serve_pages({None: b'{"data": null, "nextCursor": null}'})) as server:
        listing = endpoints_mod.list_endpoints(lifecycle_for(server.base_url))
    assert (listing.available, listing.endpoints, listing.truncated) == (True, [], False)


def test_a_cursor_loop_stops(endpoints_mod, lifecycle_for):
    pages = {None: page({"a": {}}, "c1"), "c1": page({"b": {}}, "c2"), "c2": page({"c": {}}, "c1")}
    with HostileServer(serve_pages(pages)) as server:
        listing = endpoints_mod.list_endpoints(lifecycle_for(server.base_url), describe=0)
    assert [e.id for e in listing.endpoints] == ["a", "b", "c"] and listing.truncated is True
    assert len(lists(server)) == 3


def test_endless_pages_stop_at_the_page_bound(endpoints_mod, lifecycle_for):
    def behaviour(conn, request):
        n = len(lists(server))
        return respond(conn, 200, page({f"p{n}-{i}": {} for i in range(3)}, f"cursor-{n}"))

    with HostileServer(behaviour) as server:
        listing = endpoints_mod.list_endpoints(lifecycle_for(server.base_url), describe=0)
    assert len(lists(server)) == endpoints_mod.MAX_PAGES == 10
    assert len(listing.endpoints) == 30 and listing.truncated is True


def test_a_broken_later_page_keeps_what_came(endpoints_mod, lifecycle_for):
    pages = {None: page({"a": {}, "b": {}}, "next"), "next": b"{broken"}
    with HostileServer(serve_pages(pages)) as server:
        listing = endpoints_mod.list_endpoints(lifecycle_for(server.base_url), describe=0)
    assert [e.id for e in listing.endpoints] == ["a", "b"] and listing.truncated is True


def test_item_and_description_bounds(endpoints_mod, lifecycle_for, emulator):
    for i in range(60):
        emulator.add_endpoint(f"ep-{i:02d}")
    listing = endpoints_mod.list_endpoints(lifecycle_for(emulator.base_url), max_endpoints=30, describe=10)
    assert len(listing.endpoints) == 30 and listing.truncated is True
    assert [e.name is not None for e in listing.endpoints] == [True] * 10 + [False] * 20
    assert len(list_requests(emulator)) == 2 and len(spec_requests(emulator)) == 10


def test_a_silent_spec_route_is_bounded_in_time(endpoints_mod, lifecycle_for):
    def behaviour(conn, request):
        if urlsplit(request.path).path == "/dedicated/beta/endpoint":
            return respond(conn, 200, page({f"e{i}": {"status": "RUNNING"} for i in range(8)}))
        return until_hangup(conn)

    with HostileServer(behaviour) as server:
        started = time.monotonic()
        listing = endpoints_mod.list_endpoints(lifecycle_for(server.base_url), budget=1.5)
        took = time.monotonic() - started
    assert 1.4 < took < 4, took
    assert len(listing.endpoints) == 8 and all(e.name is None for e in listing.endpoints)
    assert all(e.status == "RUNNING" for e in listing.endpoints)


def test_a_silent_list_route_is_an_error_in_time(endpoints_mod, lifecycle_for, client_pkg):
    with HostileServer(until_hangup) as server:
        started = time.monotonic()
        with pytest.raises(client_pkg.FriendliError):
            endpoints_mod.list_endpoints(lifecycle_for(server.base_url), budget=1.5)
    assert time.monotonic() - started < 4


def test_a_trickling_page_is_cut_at_the_budget(endpoints_mod, lifecycle_for, client_pkg):
    def behaviour(conn, request):
        conn.sendall(b"HTTP/1.1 200 X\r\nContent-Length: 100000\r\n\r\n{\"data\": {")
        for _ in range(100):
            time.sleep(0.2)
            conn.sendall(b" ")

    with HostileServer(behaviour) as server:
        started = time.monotonic()
        with pytest.raises(client_pkg.FriendliError):
            endpoints_mod.list_endpoints(lifecycle_for(server.base_url), budget=1.5)
    assert time.monotonic() - started < 4


def test_a_refused_key_raises(endpoints_mod, lifecycle_for, client_pkg):
    with HostileServer(lambda conn, request: respond(conn, 403, b'{"detail": "team not allowed"}')) as server:
        with pytest.raises(client_pkg.FriendliAuthError, match="not accepted"):
            endpoints_mod.list_endpoints(lifecycle_for(server.base_url))


def test_the_emulator_page_is_the_sdk_model(emulator, lifecycle_for, endpoints_mod):
    """What we parse is the vendor's own model (friendli 0.16.5, the test extra): the same ids, states, cursor."""
    models = pytest.importorskip("friendli.core.models")
    for i in range(25):
        emulator.add_endpoint(f"ep-{i:02d}")
    emulator.endpoints["ep-04"].sleep()
    import requests

    answer = requests.get(f"{emulator.base_url}/dedicated/beta/endpoint?limit=20",
                          headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    sdk = models.DedicatedEndpointListResponse.model_validate(answer.json())
    ours = endpoints_mod.parse_page(answer.content)
    assert ours is not None
    items, cursor, more = ours
    assert [e.id for e in items] == list(sdk.data) and cursor == sdk.next_cursor.decode() and not more
    assert [e.status for e in items] == [s.status for s in sdk.data.values()]
    assert items[4].status == "SLEEPING"
