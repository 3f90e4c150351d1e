"""Where requests go and with which credentials.

Token: argument, else ``FRIENDLI_TOKEN``, else the stored credentials file.
Base URL: argument, else ``FRIENDLI_BASE_URL``, else the service's default.
Team: argument, else ``FRIENDLI_TEAM``, else the credentials file's team.

The credentials file is JSON ``{"token": "...", "team": "..."}`` with mode 0600,
by default ``$XDG_CONFIG_HOME/comfyui-friendli/credentials.json`` (``%APPDATA%``
on Windows); ``FRIENDLI_CREDENTIALS_FILE`` points elsewhere. Inside ComfyUI the
pack passes a path in ComfyUI's user directory instead.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .errors import FriendliConfigError

DEDICATED = "dedicated"
CONTAINER = "container"
SERVICES = (DEDICATED, CONTAINER)
DEFAULT_BASE_URLS = {DEDICATED: "https://api.friendli.ai", CONTAINER: "http://localhost:8000"}
EDIT_PATHS = {DEDICATED: "/dedicated/v1/images/edits", CONTAINER: "/v1/images/edits"}

TOKEN_ENV = "FRIENDLI_TOKEN"
TEAM_ENV = "FRIENDLI_TEAM"
BASE_URL_ENV = "FRIENDLI_BASE_URL"
CREDENTIALS_ENV = "FRIENDLI_CREDENTIALS_FILE"

MISSING_TOKEN_HELP = (
    "No Friendli API key is configured. Set the FRIENDLI_TOKEN environment variable before starting "
    "ComfyUI (or the command), or save the key in ComfyUI under Settings > Friendli, which stores it "
    "in the credentials file"
)


def default_credentials_path() -> Path:
    """The credentials file outside ComfyUI (env override, else the user config directory)."""
    if os.environ.get(CREDENTIALS_ENV):
        return Path(os.environ[CREDENTIALS_ENV]).expanduser()
    if os.name == "nt" and os.environ.get("APPDATA"):
        base = Path(os.environ["APPDATA"])
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "comfyui-friendli" / "credentials.json"


def read_credentials(path: Path | None = None) -> dict[str, str]:
    """The stored ``token``/``team`` (empty dict when there is no usable file)."""
    path = Path(path) if path else default_credentials_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if k in ("token", "team") and isinstance(v, str) and v}


def write_credentials(token: str, team: str | None = None, path: Path | None = None) -> Path:
    """Store the token (and team) atomically with mode 0600; returns the path written."""
    path = Path(path) if path else default_credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"token": token, **({"team": team} if team else {})}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".credentials-", suffix=".tmp")  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def delete_credentials(path: Path | None = None) -> bool:
    """Remove the credentials file; True if one was there."""
    path = Path(path) if path else default_credentials_path()
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False


def validate_base_url(url: str) -> str:
    """Return the URL without a trailing slash, or raise a clear error."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FriendliConfigError(
            f"base URL {url!r} is not an http(s) URL; use e.g. https://api.friendli.ai "
            "or http://localhost:8000 for a Friendli Container"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise FriendliConfigError("base URL must not contain credentials, a query or a fragment")
    return url.strip().rstrip("/")


@dataclass(frozen=True)
class Settings:
    """Resolved connection settings. The token is kept out of repr."""

    service: str
    base_url: str
    team: str | None
    token: str | None = field(default=None, repr=False)
    token_source: str = "none"  # argument, environment, file or none

    @property
    def edit_url(self) -> str:
        return self.base_url + EDIT_PATHS[self.service]


def resolve_settings(
    service: str = DEDICATED,
    *,
    token: str | None = None,
    base_url: str | None = None,
    team: str | None = None,
    credentials_path: Path | None = None,
) -> Settings:
    """Combine arguments, environment and the credentials file (see module docstring)."""
    if service not in SERVICES:
        raise FriendliConfigError(f"service must be one of {', '.join(SERVICES)}, not {service!r}")
    stored = read_credentials(credentials_path)
    token, source = resolve_token(token, stored)
    url = validate_base_url(base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URLS[service])
    team = team or os.environ.get(TEAM_ENV) or stored.get("team") or None
    return Settings(service=service, base_url=url, team=team, token=token, token_source=source)


def resolve_token(token: str | None, stored: dict[str, str]) -> tuple[str | None, str]:
    """(token, source): the argument, else FRIENDLI_TOKEN, else the stored file's; source names which."""
    for value, source in ((token, "argument"), (os.environ.get(TOKEN_ENV), "environment"),
                          (stored.get("token"), "file")):
        if value and value.strip():
            return value.strip(), source
    return None, "none"
