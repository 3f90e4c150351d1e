"""Wake the dedicated endpoints of a prompt as soon as it is queued, so their cold start overlaps
everything that runs before the Friendli nodes.

``on_prompt`` is a ``PromptServer.add_on_prompt_handler`` hook. It only hands the prompt to one
background worker and returns at once, whatever the prompt holds. The prompt is untrusted input:
the worker reads it defensively and never alters it, wakes at most MAX_ENDPOINTS distinct endpoints
per prompt (spellings of one endpoint count once) with at most two requests each (its state, then
a wake if it sleeps; ``Lifecycle.wake`` sends one wake per endpoint per minute in the process), sends
the key only to trusted hosts (config.key_allowed), and only logs failures.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from typing import Any

from ..client.api import FriendliImageClient
from ..client.config import BASE_URL_ENV, CONTAINER, DEDICATED, DEFAULT_BASE_URLS, endpoint_key
from . import host
from .endpoint import Endpoint, resolve

log = logging.getLogger(__name__)

EDIT_NODES = ("FriendliImageEdit", "FriendliMultiImageEdit", "FriendliImageGenerate")
MAX_NODES = 10_000  # nodes of a prompt looked at
MAX_ENDPOINTS = 8  # distinct endpoints woken per prompt
MAX_WAITING = 8  # prompts waiting for the worker; later ones are not looked at
IDLE_EXIT = 5.0  # the worker ends after this many idle seconds (a new prompt starts it again)

_prompts: queue.Queue[Any] = queue.Queue(MAX_WAITING)
_lock = threading.Lock()
_worker: threading.Thread | None = None
_busy = 0  # prompts handed over and not yet finished


def on_prompt(json_data: Any) -> Any:
    """The host's prompt hook: hand the prompt to the wake worker; always returns it unchanged, at once."""
    global _worker, _busy
    try:
        with _lock:
            _prompts.put_nowait(json_data)
            _busy += 1
            if _worker is None or not _worker.is_alive():
                _worker = threading.Thread(target=_work, daemon=True, name="friendli-wake")
                _worker.start()
    except queue.Full:
        log.info("comfyui-friendli: many prompts queued at once; not waking endpoints for this one")
    except Exception as exc:  # noqa: BLE001 - a hook must never break queueing
        log.warning("comfyui-friendli: could not wake the prompt's endpoints: %s", type(exc).__name__)
    return json_data


def wait_idle(timeout: float = 10.0) -> bool:
    """Until every prompt handed over is done (tests); False on timeout."""
    end = time.monotonic() + timeout
    while _busy and time.monotonic() < end:
        time.sleep(0.01)
    return not _busy


def _work() -> None:
    global _worker, _busy
    while True:
        try:
            json_data = _prompts.get(timeout=IDLE_EXIT)
        except queue.Empty:
            with _lock:
                if _prompts.empty():
                    _worker = None
                    return
            continue
        try:
            _wake_prompt(json_data)
        except Exception as exc:  # noqa: BLE001 - only an optimisation
            log.warning("comfyui-friendli: could not wake the prompt's endpoints: %s", type(exc).__name__)
        finally:
            with _lock:
                _busy -= 1


def _wake_prompt(json_data: Any) -> None:
    settings = host.preferences()
    if not settings.wake_on_queue:
        return
    for endpoint in endpoints_of(json_data):
        _wake(endpoint, settings.trusted_hosts)


def endpoints_of(json_data: Any) -> list[Endpoint]:
    """The distinct dedicated endpoints the prompt's edit nodes will use (literal widget values only),
    at most MAX_ENDPOINTS."""
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
            found.setdefault(_key(endpoint), endpoint)
            if len(found) >= MAX_ENDPOINTS:
                break
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


def _key(endpoint: Endpoint) -> tuple[str, str]:
    """One key for every spelling of the endpoint (an empty base URL is the one the client will use)."""
    base = endpoint.base_url or os.environ.get(BASE_URL_ENV, "").strip() or DEFAULT_BASE_URLS[DEDICATED]
    return endpoint_key(base, endpoint.endpoint_id)


def _text(value: Any) -> str:
    return value.strip()[:512] if isinstance(value, str) else ""


def _wake(endpoint: Endpoint, trusted_hosts: tuple[str, ...]) -> None:
    """Ask the endpoint's state and wake it if it sleeps (at most two requests); failures are logged."""
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
