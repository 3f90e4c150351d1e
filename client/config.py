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

import ipaddress
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .errors import FriendliConfigError

DEDICATED = "dedicated"
CONTAINER = "container"
SERVICES = (DEDICATED, CONTAINER)
DEFAULT_BASE_URLS = {DEDICATED: "https://api.friendli.ai", CONTAINER: "http://localhost:8000"}
EDIT_PATHS = {DEDICATED: "/dedicated/v1/images/edits", CONTAINER: "/v1/images/edits"}
GENERATE_PATHS = {DEDICATED: "/dedicated/v1/images/generations", CONTAINER: "/v1/images/generations"}

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
    return write_json_atomically(path, {"token": token, **({"team": team} if team else {})})


def write_json_atomically(path: Path, data: object) -> Path:
    """Write ``data`` as JSON to ``path`` through a 0600 temporary file renamed over it (readers never see
    half a file); creates the folder; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")  # created 0600
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
    text = url.strip() if isinstance(url, str) else ""
    try:
        parts = urlsplit(text)
        host, _ = parts.hostname, parts.port  # both parse (and may raise ValueError)
    except ValueError:
        host, parts = None, None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        raise FriendliConfigError(
            f"base URL {_shown(text)} is not an http(s) URL; use e.g. https://api.friendli.ai "
            "or http://localhost:8000 for a Friendli Container"
        )
    if parts.query or parts.fragment or parts.username or parts.password or "@" in parts.netloc:
        raise FriendliConfigError(f"base URL {_shown(text)} must not contain credentials, a query or a fragment")
    if any(c.isspace() or not c.isprintable() for c in text):
        raise FriendliConfigError(f"base URL {_shown(text)} contains spaces or control characters")
    return text.rstrip("/")


def _shown(url: str) -> str:
    """The URL for a message: at most 100 characters, any user:password@ part removed."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    if "@" in netloc:
        netloc = "…@" + netloc.rpartition("@")[2]
    return repr((scheme + sep + netloc + slash + path if sep else url)[:100])


def validate_team(team: str | None, source: str) -> str | None:
    """The team id, or None; it is sent as a header, so it must be printable ASCII without spaces."""
    team = (team or "").strip()
    if not team:
        return None
    if len(team) > 128 or not team.isascii() or any(c.isspace() or not c.isprintable() for c in team):
        raise FriendliConfigError(
            f"team (from the {source}) must be at most 128 printable ASCII characters without spaces or "
            "line breaks; copy the team id again from Friendli Suite")
    return team


def host_port(url: str) -> tuple[str, int]:
    """(lower-case host, port) of an http(s) URL, the scheme's default port when none is given."""
    parts = urlsplit(url)
    return (parts.hostname or "").lower(), parts.port or (443 if parts.scheme == "https" else 80)


def canonical_base_url(url: str) -> str:
    """One spelling per base URL: lower-case scheme and host, no trailing dot or slash, no default port."""
    try:
        parts = urlsplit(url.strip())
        host, port = (parts.hostname or "").rstrip("."), parts.port
    except ValueError:
        return url.strip().lower()
    scheme = parts.scheme.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != (443 if scheme == "https" else 80):
        host = f"{host}:{port}"
    return f"{scheme}://{host}{parts.path.rstrip('/')}"


def endpoint_key(base_url: str, endpoint: str) -> tuple[str, str]:
    """(base URL, endpoint) as one key for every spelling of them (limits, wakes): canonical base URL,
    the endpoint id (before any ``:adapter``) stripped and case-folded."""
    return canonical_base_url(base_url), endpoint.partition(":")[0].strip().casefold()


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback IP literal (no DNS lookup)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_public_ip(address: str) -> bool:
    """True for a global unicast IP address; False for loopback, private, link-local, multicast, reserved
    addresses and for anything that is no IP literal."""
    try:
        ip = ipaddress.ip_address(address.strip("[]").split("%")[0])
    except ValueError:
        return False
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return is_public_ip(str(embedded))
    return ip.is_global and not ip.is_multicast


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


def _embedded_ipv4(ip: "ipaddress.IPv4Address | ipaddress.IPv6Address") -> "ipaddress.IPv4Address | None":
    """The IPv4 address inside an IPv4-mapped, 6to4 (2002::/16) or NAT64 (64:ff9b::/96) IPv6 address;
    a local-use NAT64 address (64:ff9b:1::/48) counts as 0.0.0.0 (never public)."""
    if ip.version != 6:
        return None
    if ip in _NAT64_LOCAL:
        return ipaddress.IPv4Address(0)
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.ipv4_mapped or ip.sixtofour


def key_allowed(base_url: str, trusted_hosts: Iterable[str] = ()) -> bool:
    """Whether the API key may be sent to ``base_url``.

    Only to hosts the user named outside any workflow: the default API host, the host of
    ``FRIENDLI_BASE_URL``, or an entry of Settings > Friendli > Trusted hosts (``host`` trusts
    every port, ``host:port`` one). Plain http only to loopback.
    """
    host, port = host_port(base_url)
    if urlsplit(base_url).scheme != "https" and not is_loopback_host(host):
        return False
    allowed = [DEFAULT_BASE_URLS[DEDICATED]]
    if os.environ.get(BASE_URL_ENV):
        allowed.append(os.environ[BASE_URL_ENV].strip())
    if (host, port) in {host_port(u) for u in allowed}:
        return True
    return any(_entry_matches(entry, host, port) for entry in trusted_hosts)


def _entry_matches(entry: str, host: str, port: int) -> bool:
    """A trusted-hosts entry (``host``, ``host:port``, ``[v6]`` or ``[v6]:port``) against host and port."""
    entry = entry.strip().lower()
    if entry.startswith("["):
        name, _, rest = entry[1:].partition("]")
        entry_port = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, entry_port = entry.partition(":")
    return name == host and (not entry_port or entry_port == str(port))


def check_key_destination(base_url: str, trusted_hosts: Iterable[str] = ()) -> None:
    """Raise FriendliConfigError, before anything is sent, when the key may not go to ``base_url``."""
    if key_allowed(base_url, trusted_hosts):
        return
    name, port = host_port(base_url)
    host = f"{name}:{port}"
    if urlsplit(base_url).scheme != "https" and not is_loopback_host(name):
        raise FriendliConfigError(
            f"base_url: the API key is never sent over plain http to {host} (only to this machine); use an "
            "https:// base URL")
    raise FriendliConfigError(
        f"base_url: {host} is not trusted with your API key. A workflow can name any host, so the key goes "
        "only to https://api.friendli.ai, the FRIENDLI_BASE_URL host, or hosts you add under "
        f"Settings > Friendli > Trusted hosts. If you trust {host}, add it there and run again")


@dataclass(frozen=True)
class Settings:
    """Resolved connection settings. The token is kept out of repr."""

    service: str
    base_url: str
    team: str | None
    token: str | None = field(default=None, repr=False)
    token_source: str = "none"  # argument, environment, file or none
    team_source: str = "none"  # argument (the caller or the workflow's node), environment, file or none

    @property
    def edit_url(self) -> str:
        return self.base_url + EDIT_PATHS[self.service]

    @property
    def generate_url(self) -> str:
        return self.base_url + GENERATE_PATHS[self.service]


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
    team_source = "none"
    for value, where, label in ((team, "argument", "argument or node"),
                                (os.environ.get(TEAM_ENV), "environment", "environment"),
                                (stored.get("team"), "file", "credentials file")):
        if validate_team(value, label):
            team, team_source = validate_team(value, label), where
            break
    else:
        team = None
    return Settings(service=service, base_url=url, team=team, token=token, token_source=source,
                    team_source=team_source)


def resolve_token(token: str | None, stored: dict[str, str]) -> tuple[str | None, str]:
    """(token, source): the argument, else FRIENDLI_TOKEN, else the stored file's; source names which."""
    for value, source in ((token, "argument"), (os.environ.get(TOKEN_ENV), "environment"),
                          (stored.get("token"), "file")):
        if value and value.strip():
            return value.strip(), source
    return None, "none"
