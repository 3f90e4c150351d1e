"""Server routes behind the Friendli settings panel: status and the stored credentials.

``GET /friendli/status``, ``POST /friendli/credentials`` and ``DELETE /friendli/credentials``
(ComfyUI mirrors each under ``/api``). No answer ever contains the token beyond its last 4
characters. aiohttp is imported only when the routes are built: ComfyUI ships it, the pack's own
dependencies do not.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlsplit

from ..client import config
from ..client.errors import FriendliConfigError

if TYPE_CHECKING:
    from aiohttp import web

MAX_BODY = 4096
TOKEN_MIN, TOKEN_MAX, TEAM_MAX = 8, 512, 128
_TOKEN_RE = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no whitespace
_TEAM_RE = re.compile(r"[A-Za-z0-9_.\-]+")


class InputError(ValueError):
    """A field of the request body is invalid; the message names the field, never its value."""


def status(path: Path) -> dict[str, Any]:
    """What the panel shows: where the token comes from, its last 4 characters, base URL and team."""
    stored = config.read_credentials(path)
    env_token = (os.environ.get(config.TOKEN_ENV) or "").strip()
    token = env_token or stored.get("token", "").strip()
    try:
        settings = config.resolve_settings(config.DEDICATED, credentials_path=path)
        base_url, team, error = settings.base_url, settings.team, None
    except FriendliConfigError as exc:
        base_url = os.environ.get(config.BASE_URL_ENV, "")
        team = os.environ.get(config.TEAM_ENV) or stored.get("team")
        error = str(exc)
    result = {
        "configured": bool(token),
        "source": "environment" if env_token else "file" if token else "none",
        "token_hint": "…" + token[-4:] if token else None,
        "base_url": base_url,
        "team": team or None,
        "credentials_file": str(path),
        "env_overrides_file": bool(env_token and stored.get("token")),
    }
    if error:
        result["error"] = error
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
    """False when a browser sent an Origin whose host:port differs from Host (a foreign page).

    ComfyUI's own origin_only_middleware does this only when Host is a loopback address and is
    replaced by a permissive CORS middleware under --enable-cors-header; the credentials routes
    keep the check in every case. Requests without Origin (curl, scripts) pass.
    """
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
                return answer({"error": "cross-origin request refused"}, 403)
            return await handler(request)
        return wrapped

    @routes.get("/friendli/status")
    @guard
    async def get_status(request: web.Request) -> web.Response:
        return answer(status(credentials_path()))

    @routes.post("/friendli/credentials")
    @guard
    async def post_credentials(request: web.Request) -> web.Response:
        if (request.content_length or 0) > MAX_BODY or len(raw := await request.read()) > MAX_BODY:
            return answer({"error": "request body too large"}, 400)
        path = credentials_path()
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return answer({"error": 'body is not JSON; send {"token": "...", "team": "..."}'}, 400)
        try:
            token, team = parse_credentials(body, path)
        except InputError as exc:
            return answer({"error": str(exc)}, 400)
        try:
            config.write_credentials(token, team, path)
        except OSError as exc:
            return answer({"error": f"could not write {path}: {exc.strerror or type(exc).__name__}"}, 500)
        return answer(status(path))

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


def comfy_credentials_path() -> Path:
    """``<ComfyUI user dir>/comfyui-friendli/credentials.json`` (nodes/host.py's, if it has one)."""
    try:
        from .host import credentials_path
    except ImportError:  # the nodes' adapter not there: compute the same location
        credentials_path = None
    path = credentials_path() if credentials_path else None
    if path is None:
        import folder_paths  # ComfyUI's module

        path = Path(folder_paths.get_user_directory()) / "comfyui-friendli" / "credentials.json"
    return Path(path)


def register(server: Any) -> None:
    """Add the routes to ComfyUI's ``PromptServer`` (before it starts; it mirrors them under /api)."""
    for route in make_routes(comfy_credentials_path):
        server.routes.route(route.method, route.path, **route.kwargs)(route.handler)
