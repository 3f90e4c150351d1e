"""Setup problems found when the prompt is queued (the host's ``VALIDATE_INPUTS``), before anything
runs: ComfyUI shows them in its own dialog with the node highlighted. Messages use the words of the
UI and point at the exact field or setting. Each check returns True or the message."""

from __future__ import annotations

from typing import Any

from ..client import config
from ..client.config import DEDICATED, SERVICES
from ..client.errors import FriendliConfigError
from . import host
from .messages import localized

NOT_LINKED = "(not linked)"  # the default of a link input VALIDATE_INPUTS names: absent = not linked
NO_KEY = ("No Friendli API key is set. Open Settings (Ctrl+, or ⌘+,) > Friendli, paste your key into "
          "'API key' and press Save. Friendli Suite > Settings > Tokens makes one.")
EMPTY_ENDPOINT = ("endpoint_id is empty. Paste your endpoint id into this field (Friendli Suite > Endpoints > "
                  "your endpoint > the id beside its name), or connect a Friendli Endpoint node.")
EMPTY_PROMPT = "prompt is empty. Describe the edit you want, e.g. \"make the sky a warm sunset\"."


def key_configured() -> bool:
    """An API key in FRIENDLI_TOKEN or saved in Settings > Friendli."""
    token, _ = config.resolve_token(None, config.read_credentials(host.credentials_path()))
    return token is not None


def edit_node(prompt: Any, endpoint_id: Any, endpoint: Any) -> bool | str:
    """An edit node: a prompt, and (unless a Friendli Endpoint is linked, which checks itself) an
    endpoint id and a key. A linked prompt or id has no value yet (None) and is not checked."""
    if isinstance(prompt, str) and not prompt.strip():
        return localized(EMPTY_PROMPT, "empty_prompt")
    if endpoint != NOT_LINKED:
        return True
    if isinstance(endpoint_id, str) and not endpoint_id.strip():
        return localized(EMPTY_ENDPOINT, "empty_endpoint")
    return True if key_configured() else localized(NO_KEY, "no_key")


def endpoint_node(service: Any, base_url: Any) -> bool | str:
    """A Friendli Endpoint node: a known service; for a dedicated endpoint a key, and a base URL that
    may receive it."""
    if service not in SERVICES:
        return f"service must be one of {', '.join(SERVICES)}"
    if service != DEDICATED:
        return True
    if not key_configured():
        return localized(NO_KEY, "no_key")
    if not isinstance(base_url, str) or not base_url.strip():
        return True  # FRIENDLI_BASE_URL or the default API host
    try:
        url = config.validate_base_url(base_url)
        trusted = host.preferences().trusted_hosts
        config.check_key_destination(url, trusted)
    except FriendliConfigError as exc:
        return localized(str(exc).replace("Settings > Friendli > Trusted hosts", "Settings (Ctrl+, or ⌘+,) > "
                                          "Friendli > Trusted hosts"), "untrusted")
    return True
