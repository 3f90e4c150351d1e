"""Setup problems found when the prompt is queued (the host's ``VALIDATE_INPUTS``), before anything
runs: ComfyUI shows them in its own dialog with the node highlighted. Messages use the words of the
UI and point at the exact field or setting. Each check returns True or the message.

ComfyUI reports a failing validator once for every input its signature names (each entry titled with
that input's name), with the one message it returned. So each validator names exactly one input, the
field its problems are about, and says all of them at once (each once, first round): on the edit and
generate nodes ``endpoint_id`` (an empty id, and no API key: the field an artist looks at, the message
names Settings > Friendli > API key); on the Friendli Endpoint node ``service`` (a dedicated endpoint
needs the key). An empty prompt and an untrusted base URL are told when the node runs, before anything
is sent, naming their field (a validator naming them too would repeat every message under them).
"""

from __future__ import annotations

from typing import Any

from ..client import config
from ..client.config import DEDICATED, SERVICES
from ..client.errors import FriendliConfigError
from . import host
from .messages import localized, translate

NOT_LINKED = "(not linked)"  # the default of a link input VALIDATE_INPUTS names: absent = not linked
NO_KEY = ("No Friendli API key is set. Open Settings > Friendli > API key, paste your key and press Save "
          "(Friendli Suite > Settings > Tokens makes one), or set FRIENDLI_TOKEN where ComfyUI starts.")
EMPTY_ENDPOINT = ("endpoint_id is empty. Paste your endpoint id into this field (Friendli Suite > Endpoints > "
                  "your endpoint > the id beside its name), or connect a Friendli Endpoint node.")


def key_configured() -> bool:
    """An API key in FRIENDLI_TOKEN or saved in Settings > Friendli."""
    token, _ = config.resolve_token(None, config.read_credentials(host.credentials_path()))
    return token is not None


def edit_node(endpoint_id: Any, endpoint: Any) -> bool | str:
    """An edit or generate node without a linked Friendli Endpoint (which checks itself): an endpoint id
    and a key. A linked id has no value yet (None) and is not checked."""
    if endpoint != NOT_LINKED:
        return True
    problems = []
    if isinstance(endpoint_id, str) and not endpoint_id.strip():
        problems.append(localized(EMPTY_ENDPOINT, "empty_endpoint"))
    if not key_configured():
        problems.append(localized(NO_KEY, "no_key"))
    return "\n".join(problems) or True


def endpoint_node(service: Any) -> bool | str:
    """A Friendli Endpoint node: a known service, and for a dedicated endpoint a key."""
    if service not in SERVICES:
        return f"service must be one of {', '.join(SERVICES)}"
    if service == DEDICATED and not key_configured():
        return localized(NO_KEY, "no_key")
    return True


def check_base_url(service: str, base_url: str) -> None:
    """A dedicated endpoint's base URL must be one that may receive the key; FriendliConfigError naming
    ``base_url`` and the fix otherwise. Empty = FRIENDLI_BASE_URL or the default host."""
    if service != DEDICATED or not base_url.strip():
        return
    try:
        config.check_key_destination(config.validate_base_url(base_url), host.preferences().trusted_hosts)
    except FriendliConfigError as exc:
        translate(exc)  # it names base_url and the fix
        raise
