"""Wake the dedicated endpoints of a prompt as soon as it is queued, so their cold start overlaps
everything that runs before the Friendli nodes.

``on_prompt`` is a ``PromptServer.add_on_prompt_handler`` hook. The prompt is untrusted input:
it is read defensively, never altered, and the key goes only to trusted hosts (config.key_allowed).
Wakes run on daemon threads, at most one per (base URL, endpoint) at a time; failures are logged.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from ..client import prefs
from ..client.api import FriendliImageClient
from ..client.config import CONTAINER, DEDICATED
from . import host
from .endpoint import Endpoint, resolve

log = logging.getLogger(__name__)

EDIT_NODES = ("FriendliImageEdit", "FriendliMultiImageEdit")
MAX_NODES = 10_000

_waking: set[tuple[str, str]] = set()
_lock = threading.Lock()


def on_prompt(json_data: Any) -> Any:
    """The host's prompt hook: start waking the prompt's endpoints; always returns the prompt unchanged."""
    try:
        settings = prefs.read(host.user_folder() / prefs.FILE_NAME)
        if settings.wake_on_queue:
            for endpoint in endpoints_of(json_data):
                start_wake(endpoint, settings.trusted_hosts)
    except Exception as exc:  # noqa: BLE001 - a hook must never break queueing
        log.warning("comfyui-friendli: could not wake the prompt's endpoints: %s", type(exc).__name__)
    return json_data


def endpoints_of(json_data: Any) -> list[Endpoint]:
    """The distinct dedicated endpoints the prompt's edit nodes will use (literal widget values only)."""
    prompt = json_data.get("prompt") if isinstance(json_data, dict) else None
    if not isinstance(prompt, dict):
        return []
    found: dict[tuple[str, str], Endpoint] = {}
    for node in list(prompt.values())[:MAX_NODES]:
        if not isinstance(node, dict) or node.get("class_type") not in EDIT_NODES:
            continue
        inputs = node.get("inputs") if isinstance(node.get("inputs"), dict) else {}
        endpoint = resolve(_linked_endpoint(prompt, inputs.get("endpoint")), _text(inputs.get("endpoint_id")),
                           _text(inputs.get("adapter_route")))
        if endpoint.service == DEDICATED and endpoint.endpoint_id:
            found[(endpoint.base_url, endpoint.endpoint_id)] = endpoint
    return list(found.values())


def _linked_endpoint(prompt: dict[str, Any], link: Any) -> Endpoint | None:
    """The FriendliEndpoint node an input links to (``[node_id, slot]``), from its literal inputs."""
    if not (isinstance(link, list) and len(link) == 2 and isinstance(link[0], (str, int))):
        return None
    node = prompt.get(str(link[0]))
    if not isinstance(node, dict) or node.get("class_type") != "FriendliEndpoint":
        return None
    inputs = node.get("inputs") if isinstance(node.get("inputs"), dict) else {}
    service = _text(inputs.get("service")) or DEDICATED
    if service not in (DEDICATED, CONTAINER):
        return None
    return Endpoint(service, *(_text(inputs.get(k)) for k in ("endpoint_id", "adapter_route", "base_url", "team")))


def _text(value: Any) -> str:
    return value.strip()[:512] if isinstance(value, str) else ""


def start_wake(endpoint: Endpoint, trusted_hosts: tuple[str, ...]) -> bool:
    """Wake ``endpoint`` on a daemon thread unless a wake for it is already in flight; False if skipped."""
    key = (endpoint.base_url, endpoint.endpoint_id)
    with _lock:
        if key in _waking:
            return False
        _waking.add(key)
    threading.Thread(target=_wake, args=(endpoint, trusted_hosts, key), daemon=True, name="friendli-wake").start()
    return True


def _wake(endpoint: Endpoint, trusted_hosts: tuple[str, ...], key: tuple[str, str]) -> None:
    try:
        with FriendliImageClient(base_url=endpoint.base_url or None, team=endpoint.team or None,
                                 credentials_path=host.credentials_path(), trusted_hosts=trusted_hosts,
                                 read_timeout=30) as client:
            lifecycle = client.lifecycle()  # raises, before sending, for an untrusted host or no key
            status = lifecycle.status(endpoint.endpoint_id)
            if status is not None and status.status == "SLEEPING":
                lifecycle.wake(endpoint.endpoint_id)
                log.info("comfyui-friendli: waking endpoint %s for the queued prompt", endpoint.endpoint_id)
    except Exception as exc:  # noqa: BLE001 - only an optimisation: the node checks again when it runs
        log.info("comfyui-friendli: not waking endpoint %s: %s", endpoint.endpoint_id, exc)
    finally:
        with _lock:
            _waking.discard(key)
