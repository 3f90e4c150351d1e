"""The pack's non-secret preferences, kept server-side beside the credentials file.

``preferences.json`` sits in the same folder as ``credentials.json`` (inside ComfyUI:
``<user dir>/comfyui-friendli/``). It holds what Settings > Friendli sets and the
server must know: trusted hosts for the key, the in-flight limit per endpoint,
waking endpoints when a prompt is queued, the result store, the memory budget
for answers in flight, when to ask before a large run, the price used for cost
estimates, and the browser's language for error titles. Never a secret, never
in a workflow. A missing or broken file gives the defaults.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from .config import default_credentials_path, write_json_atomically
from .errors import FriendliInputError

FILE_NAME = "preferences.json"
STORE_FOLDER = "results"  # the result store, beside the preferences
MAX_TRUSTED_HOSTS = 32
# a host name, IPv4 or [IPv6] literal, optionally with :port
_HOST_RE = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
                      r"|\[[0-9a-f:.]+\])(?::([0-9]{1,5}))?")


@dataclass(frozen=True)
class Preferences:
    """Settings > Friendli, as the server keeps them."""

    trusted_hosts: tuple[str, ...] = ()  # extra hosts (host or host:port) that may receive the key
    max_in_flight: int = 8  # requests in flight per endpoint, shared by all nodes and prompts
    wake_on_queue: bool = True  # wake dedicated endpoints when a prompt using them is queued
    result_store: bool = True  # answer repeated seeded requests from the local result store
    result_store_gib: float = 4.0  # size cap of the result store
    memory_budget_mib: int = 512  # answer bodies and url downloads in flight together, for the process
    confirm_over: int = 16  # a run that would send more requests than this asks first (0 = never ask)
    confirm_headless: str = "send"  # with no browser to ask: "send" or "skip" (fail before sending)
    price_per_gpu_hour: float = 0.0  # turns endpoint times into a cost estimate (0 = no estimate)
    locale: str = "en"  # ComfyUI's language in the browser (the first line of errors follows it)

    @property
    def result_store_bytes(self) -> int:
        return int(self.result_store_gib * 2**30)

    @property
    def memory_budget_bytes(self) -> int:
        return int(self.memory_budget_mib) << 20

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["trusted_hosts"] = list(self.trusted_hosts)
        return data


LIMITS = {"max_in_flight": (1, 64), "result_store_gib": (0.1, 1024.0), "memory_budget_mib": (64, 65536),
          "confirm_over": (0, 4096), "price_per_gpu_hour": (0.0, 10000.0)}
WHOLE_NUMBERS = ("max_in_flight", "memory_budget_mib", "confirm_over")
CHOICES = {"confirm_headless": ("send", "skip")}


def normalize_host(value: Any) -> str:
    """A trusted-host entry in canonical form (lower case, no scheme or path), or FriendliInputError.

    One entry is one host: an entry with a space in it ("http://bad host") is refused, not split in two."""
    if not isinstance(value, str):
        raise FriendliInputError("trusted_hosts", "each entry must be a host name such as my-proxy.example.com")
    shown = repr(value[:80])
    text = value.strip().lower()
    if any(c.isspace() for c in text):
        raise FriendliInputError("trusted_hosts", f"{shown} has a space in it, and a host name has none. Separate "
                                 "hosts with commas, e.g. my-proxy.example.com, 10.0.0.5:8443")
    if "://" in text:
        scheme, text = text.split("://", 1)
        if scheme not in ("http", "https"):
            raise FriendliInputError("trusted_hosts", f"{shown}: only http:// or https:// hosts can be trusted")
    text = text.split("/", 1)[0]
    match = _HOST_RE.fullmatch(text)
    if not text or not match or len(text) > 260 or not 1 <= int(match.group(1) or 1) <= 65535:
        raise FriendliInputError("trusted_hosts", f"{shown} is not a host name or host:port "
                                 "(e.g. my-proxy.example.com or 10.0.0.5:8443)")
    return text


def validate(update: Any, base: Preferences | None = None) -> Preferences:
    """``base`` (default: the defaults) with the fields of ``update`` (a dict) applied and checked."""
    if not isinstance(update, dict):
        raise FriendliInputError("preferences", "send a JSON object with the fields to change")
    known = {f.name for f in fields(Preferences)}
    unknown = sorted(set(update) - known)
    if unknown:
        raise FriendliInputError(unknown[0], f"is not a preference; known: {', '.join(sorted(known))}")
    changes: dict[str, Any] = {}
    for name, value in update.items():
        if name == "trusted_hosts":
            if not isinstance(value, list) or len(value) > MAX_TRUSTED_HOSTS:
                raise FriendliInputError(name, f"must be a list of at most {MAX_TRUSTED_HOSTS} host names")
            changes[name] = tuple(dict.fromkeys(normalize_host(v) for v in value))
        elif name in ("wake_on_queue", "result_store"):
            if not isinstance(value, bool):
                raise FriendliInputError(name, "must be true or false")
            changes[name] = value
        elif name == "locale":
            if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})?", value):
                raise FriendliInputError(name, "must be a language code such as en, ko or zh-TW")
            changes[name] = value
        elif name in CHOICES:
            if value not in CHOICES[name]:
                raise FriendliInputError(name, f"must be one of {', '.join(CHOICES[name])}")
            changes[name] = value
        else:
            low, high = LIMITS[name]
            number_ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            if name in WHOLE_NUMBERS and not isinstance(value, int):
                number_ok = False
            if not number_ok or not low <= value <= high:
                raise FriendliInputError(name, f"must be a number from {low:g} to {high:g}")
            changes[name] = value
    return replace(base or Preferences(), **changes)


def default_path() -> Path:
    """``preferences.json`` beside the default credentials file (outside ComfyUI)."""
    return default_credentials_path().with_name(FILE_NAME)


def read(path: Path | None = None) -> Preferences:
    """The stored preferences; defaults for a missing file and for any field that is invalid."""
    path = Path(path) if path else default_path()
    try:
        data = json.loads(path.read_bytes()[:65536])
    except (OSError, ValueError, RecursionError):
        return Preferences()
    prefs = Preferences()
    if isinstance(data, dict):
        for name, value in data.items():
            try:
                prefs = validate({name: value}, prefs)
            except FriendliInputError:
                continue
    return prefs


def write(prefs: Preferences, path: Path | None = None) -> Path:
    """Store atomically (a temporary file renamed over the old one); returns the path."""
    return write_json_atomically(Path(path) if path else default_path(), prefs.to_json())
