"""Server routes behind the Friendli settings panel: status and the stored credentials.

``GET /friendli/status``, ``POST /friendli/credentials``, ``DELETE /friendli/credentials`` and
``GET``/``POST /friendli/preferences``, ``GET``/``DELETE /friendli/store``, ``POST /friendli/endpoint/status``
and ``…/sleep`` (the state, and the endpoint's spec for people), ``POST /friendli/confirm`` (the answer to
a large run's question), ``GET /friendli/endpoints`` (the endpoint picker's list: id, name, state and GPU
of each endpoint the stored key can see, at most 200, or ``available: false`` with the reason: no key, no
list route; ``?base_url=`` only for a host that may receive the key, ``?team=``) (ComfyUI mirrors each
under ``/api``). No answer ever contains the token beyond its last 4 characters. Every route refuses what a
browser marks as coming from another site (``Sec-Fetch-Site``) or another origin (``Origin``); scripts on this
machine send neither and pass. The endpoint list is single-flight and kept LIST_TTL seconds per key, team and
base URL, at most LIST_AT_ONCE listings at a time. aiohttp is imported only when the routes are built: ComfyUI
ships it, the pack's own dependencies do not.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlsplit

from ..client import config, endpoints, prefs
from ..client.store import ResultStore
from ..client.api import FriendliImageClient
from ..client.errors import FriendliConfigError, FriendliError, FriendliInputError, FriendliNotFoundError, scrub
from ..client.lifecycle import explain
from . import confirm, host

if TYPE_CHECKING:
    from aiohttp import web

MAX_BODY = 4096
LIST_TTL = 5.0  # seconds a finished endpoint listing answers again for the same key, team and base URL
LIST_AT_ONCE = 2  # listings running at once (each holds a thread for up to endpoints.BUDGET seconds)
LIST_KEPT = 32  # listings remembered at most
SAME_SITE = ("same-origin", "none")  # Sec-Fetch-Site values of the ComfyUI page itself or a typed address
TOKEN_MIN, TOKEN_MAX, TEAM_MAX = 8, 512, 128
_TOKEN_RE = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no whitespace
_TEAM_RE = re.compile(r"[A-Za-z0-9_.\-]+")


class InputError(ValueError):
    """A field of the request body is invalid; the message names the field, never its value."""


def status(path: Path) -> dict[str, Any]:
    """What the panel shows: where the token comes from, its last 4 characters, base URL and team."""
    stored = config.read_credentials(path)
    token, source = config.resolve_token(None, stored)
    result: dict[str, Any] = {
        "configured": bool(token),
        "source": source,
        "token_hint": ("…" + token[-4:] if len(token) >= 12 else "…") if token else None,  # never a short key whole
        "credentials_file": str(path),
        "env_overrides_file": source == "environment" and bool(stored.get("token")),
    }
    try:
        settings = config.resolve_settings(config.DEDICATED, credentials_path=path)
        result.update(base_url=settings.base_url, team=settings.team)
    except FriendliConfigError as exc:  # e.g. an invalid FRIENDLI_BASE_URL: say so, without its secrets
        result.update(base_url=None, team=None, error=scrub(str(exc), [token]))
    return result


def parse_credentials(body: Any, path: Path) -> tuple[str, str | None]:
    """Validate a POST body ``{"token", "team"?}``; an empty token keeps the stored one."""
    if not isinstance(body, dict):
        raise InputError('send a JSON object {"token": "...", "team": "..."}')
    token, team = body.get("token"), body.get("team")
    if token is not None and not isinstance(token, str):
        raise InputError("token: must be a string")
    token = (token or "").strip()
    if not token:
        token = config.read_credentials(path).get("token", "")
        if not token:
            raise InputError("token: enter the API key (flp_...) to save")
    elif not TOKEN_MIN <= len(token) <= TOKEN_MAX:
        raise InputError(f"token: must be {TOKEN_MIN} to {TOKEN_MAX} characters long")
    elif not _TOKEN_RE.fullmatch(token):
        raise InputError("token: may contain only printable ASCII characters without spaces")
    if team is not None and not isinstance(team, str):
        raise InputError("team: must be a string")
    team = (team or "").strip() or None
    if team and (len(team) > TEAM_MAX or not _TEAM_RE.fullmatch(team)):
        raise InputError(f"team: at most {TEAM_MAX} characters of letters, digits, '_', '-' and '.'")
    return token, team


def same_origin(headers: Any) -> bool:
    """False when a browser marks the request as made by another site (``Sec-Fetch-Site`` other than
    same-origin or none: a foreign page's ``<img>``, ``<script>`` or no-cors fetch, which send no Origin)
    or sent an Origin whose host:port differs from Host (a foreign page).

    ComfyUI's own origin_only_middleware checks Origin only when Host is a loopback address and is
    replaced by a permissive CORS middleware under --enable-cors-header; these routes keep both checks
    in every case. Requests without either header (curl, scripts) pass.
    """
    site = headers.get("Sec-Fetch-Site")
    if site is not None and site.strip().lower() not in SAME_SITE:
        return False
    origin, host = headers.get("Origin"), headers.get("Host")
    if origin is None:
        return True
    netloc = urlsplit(origin).netloc.lower()
    return bool(netloc) and netloc == (host or "").lower()


def make_routes(credentials_path: Callable[[], Path]) -> "web.RouteTableDef":
    """The three routes, storing credentials at ``credentials_path()`` (resolved per request)."""
    from aiohttp import web

    routes = web.RouteTableDef()
    no_store = {"Cache-Control": "no-store"}

    def answer(data: dict[str, Any], status_code: int = 200) -> web.Response:
        return web.json_response(data, status=status_code, headers=no_store)

    def guard(handler: Callable[[web.Request], Any]) -> Callable[[web.Request], Any]:
        async def wrapped(request: web.Request) -> web.Response:
            if not same_origin(request.headers):
                return answer({"error": "cross-origin request refused: only the ComfyUI page itself (or a "
                               "script on this machine) may use this route"}, 403)
            return await handler(request)
        return wrapped

    async def read_json(request: web.Request) -> Any:
        """The request's JSON body (at most MAX_BODY bytes), or InputError."""
        if (request.content_length or 0) > MAX_BODY or len(raw := await request.read()) > MAX_BODY:
            raise InputError("request body too large")
        try:
            return json.loads(raw or b"null")
        except (ValueError, RecursionError):
            raise InputError("body is not JSON") from None

    @routes.get("/friendli/status")
    @guard
    async def get_status(request: web.Request) -> web.Response:
        return answer(status(credentials_path()))

    @routes.post("/friendli/credentials")
    @guard
    async def post_credentials(request: web.Request) -> web.Response:
        path = credentials_path()
        try:
            token, team = parse_credentials(await read_json(request), path)
        except InputError as exc:
            return answer({"error": str(exc)}, 400)
        try:
            config.write_credentials(token, team, path)
        except OSError as exc:
            return answer({"error": f"could not write {path}: {exc.strerror or type(exc).__name__}"}, 500)
        return answer(status(path))

    @routes.get("/friendli/preferences")
    @guard
    async def get_preferences(request: web.Request) -> web.Response:
        return answer(prefs.read(preferences_path(credentials_path())).to_json())

    @routes.post("/friendli/preferences")
    @guard
    async def post_preferences(request: web.Request) -> web.Response:
        path = preferences_path(credentials_path())
        try:
            updated = prefs.validate(await read_json(request), prefs.read(path))
        except (InputError, FriendliInputError) as exc:
            return answer({"error": str(exc)}, 400)
        try:
            prefs.write(updated, path)
        except OSError as exc:
            return answer({"error": f"could not write {path}: {exc.strerror or type(exc).__name__}"}, 500)
        return answer(updated.to_json())

    def store_info() -> dict[str, Any]:
        settings = prefs.read(preferences_path(credentials_path()))
        store = ResultStore(store_folder(credentials_path()), settings.result_store_bytes)
        return {"enabled": settings.result_store, **store.stats()}

    @routes.get("/friendli/store")
    @guard
    async def get_store(request: web.Request) -> web.Response:
        return answer(await asyncio.to_thread(store_info))

    @routes.delete("/friendli/store")
    @guard
    async def delete_store(request: web.Request) -> web.Response:
        def clear() -> dict[str, Any]:
            ResultStore(store_folder(credentials_path()), 0).clear()
            return store_info()
        return answer(await asyncio.to_thread(clear))

    def endpoint_action(action: str, body: Any) -> tuple[dict[str, Any], int]:
        """Status or sleep of the endpoint named in ``body``, with the stored key, at the configured base URL."""
        endpoint_id = body.get("endpoint_id") if isinstance(body, dict) else None
        if not isinstance(endpoint_id, str) or not endpoint_id.strip() or len(endpoint_id) > 256:
            raise InputError("endpoint_id: enter the endpoint id from Friendli Suite > Endpoints")
        try:
            with FriendliImageClient(credentials_path=credentials_path(), read_timeout=20) as client:
                lifecycle = client.lifecycle()
                status = getattr(lifecycle, action)(endpoint_id.strip(), strict=True)
                info = lifecycle.info(endpoint_id.strip()) if status is not None else None
        except FriendliNotFoundError:  # the artist's words, not "HTTP 404: …"; the browser translates them
            return {"error": f"no endpoint {endpoint_id.strip()} for this API key and team. Check the id in Friendli "
                    "Suite > Endpoints, and the team setting", "kind": "not_found",
                    "endpoint_id": endpoint_id.strip()}, 404
        except FriendliError as exc:
            code = 400 if isinstance(exc, (FriendliConfigError, FriendliInputError)) else 502
            return {"error": str(exc)}, code
        if info is not None:
            running = status.status in ("RUNNING", "READY") and status.updated_at is not None
            info["running_s"] = max(0, round(time.time() - status.updated_at)) if running else None
        if status is None:
            return {"available": False, "reason": "this server does not offer the endpoint status route "
                    "(a proxy or a Friendli Container?); the nodes still work"}, 200
        return {"available": True, "endpoint_id": endpoint_id.strip(), "status": status.status,
                "phase": status.phase, "error_code": status.error_code, "explanation": explain(status),
                "info": info}, 200

    for action in ("status", "sleep"):
        @routes.post(f"/friendli/endpoint/{action}")
        @guard
        async def endpoint_route(request: web.Request, action: str = action) -> web.Response:
            try:
                body = await read_json(request)
            except InputError as exc:
                return answer({"error": str(exc)}, 400)
            try:
                data, code = await asyncio.to_thread(endpoint_action, action, body)
            except InputError as exc:
                return answer({"error": str(exc)}, 400)
            return answer(data, code)

    def endpoint_list(base_url: str | None, team: str | None,
                      trusted: tuple[str, ...]) -> tuple[dict[str, Any], int]:
        """The endpoints the stored key can see (GET /friendli/endpoints): at the configured base URL, or at a
        ``base_url`` given in the query only when it may receive the key (Settings > Friendli > Trusted hosts)."""
        try:
            with FriendliImageClient(credentials_path=credentials_path(), base_url=base_url, team=team,
                                     trusted_hosts=trusted) as client:
                if not client.settings.token:
                    return {"available": False, "code": "no_key", "reason": config.MISSING_TOKEN_HELP}, 200
                listing = endpoints.list_endpoints(client.lifecycle())
        except FriendliError as exc:
            code = 400 if isinstance(exc, (FriendliConfigError, FriendliInputError)) else 502
            return {"error": str(exc)}, code
        if not listing.available:
            return {"available": False, "code": listing.code, "reason": listing.reason}, 200
        return {"available": True, "endpoints": [e.to_json() for e in listing.endpoints],
                "truncated": listing.truncated}, 200

    listings: dict[tuple[Any, ...], tuple[asyncio.Future, list[float]]] = {}  # key -> (listing, [expiry])
    running = asyncio.Semaphore(LIST_AT_ONCE)

    def list_key(base_url: str | None, team: str | None) -> tuple[Any, ...]:
        """What a listing depends on: the key (hashed), team and base URL it would use, and the trusted hosts."""
        trusted = tuple(prefs.read(preferences_path(credentials_path())).trusted_hosts)
        try:
            s = config.resolve_settings(config.DEDICATED, base_url=base_url, team=team,
                                        credentials_path=credentials_path())
        except FriendliConfigError:  # the listing itself says what is wrong
            return ("invalid", base_url, team, trusted)
        token = hashlib.sha256(s.token.encode()).hexdigest() if s.token else None
        return (token, s.team, s.base_url, trusted)

    async def shared_listing(base_url: str | None, team: str | None) -> tuple[dict[str, Any], int]:
        """One listing per key at a time, kept LIST_TTL seconds after it ends; every caller meanwhile gets it."""
        now = time.monotonic()
        for old in [k for k, (_, expiry) in listings.items() if expiry[0] <= now]:
            del listings[old]
        key = await asyncio.to_thread(list_key, base_url, team)
        if key not in listings:
            if len(listings) >= LIST_KEPT:
                return {"error": "too many different endpoint listings at once; try again in a few seconds"}, 429

            async def run() -> tuple[dict[str, Any], int]:
                async with running:
                    return await asyncio.to_thread(endpoint_list, base_url, team, key[3])

            expiry = [float("inf")]
            future = asyncio.ensure_future(run())
            future.add_done_callback(lambda _: expiry.__setitem__(0, time.monotonic() + LIST_TTL))
            listings[key] = (future, expiry)
        return await asyncio.shield(listings[key][0])  # a caller that goes away leaves the others the listing

    @routes.get("/friendli/endpoints")
    @guard
    async def get_endpoints(request: web.Request) -> web.Response:
        base_url, team = (request.query.get(name, "").strip() or None for name in ("base_url", "team"))
        if base_url is not None and len(base_url) > 2048:
            return answer({"error": "base_url: too long"}, 400)
        data, code = await shared_listing(base_url, team)
        return answer(data, code)

    @routes.post("/friendli/confirm")
    @guard
    async def post_confirm(request: web.Request) -> web.Response:
        try:
            body = await read_json(request)
        except InputError as exc:
            return answer({"error": str(exc)}, 400)
        question = body.get("id") if isinstance(body, dict) else None
        if not isinstance(question, str) or not isinstance(body.get("ok"), bool):
            return answer({"error": "send {\"id\": \"...\", \"ok\": true|false}"}, 400)
        if not confirm.answer(question, body["ok"]):
            return answer({"error": "no such question is open (answered already, or the run ended)"}, 404)
        return answer({"ok": body["ok"]})

    @routes.delete("/friendli/credentials")
    @guard
    async def delete_credentials(request: web.Request) -> web.Response:
        path = credentials_path()
        try:
            config.delete_credentials(path)
        except OSError as exc:
            return answer({"error": f"could not remove {path}: {exc.strerror or type(exc).__name__}"}, 500)
        return answer(status(path))

    return routes


def preferences_path(credentials_path: Path) -> Path:
    """The preferences file lives beside the credentials file."""
    return credentials_path.with_name(prefs.FILE_NAME)


def store_folder(credentials_path: Path) -> Path:
    """The result store lives beside the credentials file."""
    return credentials_path.with_name(prefs.STORE_FOLDER)


def comfy_credentials_path() -> Path:
    """Where the nodes read the key: ComfyUI's user directory (nodes/host.py), else the client's default."""
    return host.credentials_path() or config.default_credentials_path()


def register(server: Any) -> None:
    """Add the routes to ComfyUI's ``PromptServer`` (before it starts; it mirrors them under /api)."""
    for route in make_routes(comfy_credentials_path):
        server.routes.route(route.method, route.path, **route.kwargs)(route.handler)
