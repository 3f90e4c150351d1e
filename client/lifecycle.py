"""A Dedicated Endpoint's lifecycle: its state, waking it, putting it to sleep, waiting until it runs.

Routes (beta in the official SDK; same key and team header as the edit route):
``GET /dedicated/beta/endpoint/{id}/status``, ``PUT …/wake``, ``PUT …/sleep``, each answering
``{"status", "createdAt", "updatedAt", "phase", "errorCode"}``. The state check is an
optimisation: when the route is unavailable (403/404/405, a proxy or container without it, an
answer that is not the status object) everything goes on as without it.
"""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import datetime, timezone
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from .errors import (FriendliCancelledError, FriendliEndpointStateError, FriendliError, FriendliTimeoutError,
                     scrub)
from .config import endpoint_key
from .transport import (ERROR_BODY_MAX, error_for_exception, error_for_status, host_of, proxies_for, read_body,
                        server_detail)

STATUSES = ("UNKNOWN", "INITIALIZING", "RUNNING", "UPDATING", "SLEEPING", "AWAKING", "FAILED", "STOPPING",
            "TERMINATING", "TERMINATED", "READY")
PHASES = ("REQUESTING_VIRTUAL_MACHINE", "DOWNLOADING_MODEL", "ENGINE_INITIALIZING")
READY = ("RUNNING", "READY")
STARTING = ("INITIALIZING", "AWAKING", "UPDATING")
GONE = ("FAILED", "STOPPING", "TERMINATING", "TERMINATED")
WAKE_INTERVAL = 60.0  # seconds during which another wake of the same endpoint is not sent
STATUS_TIMEOUT = 10.0  # a status route silent this long is taken as unavailable (the edit goes ahead)
_wakes: dict[tuple[str, str], float] = {}
_wakes_lock = threading.Lock()
_CODE_JUNK = re.compile(r"[^A-Za-z0-9_.-]+")
ERROR_WORDS = {  # the SDK's InferenceDeploymentErrorCode values we can explain
    "INFERENCE_ENGINE_MEMORY_ERROR": "the model does not fit the GPU memory of the endpoint's instance",
    "INFERENCE_ENGINE_INITIALIZATION_ERROR": "the inference engine failed to start",
    "MODEL_DOWNLOAD_ERROR": "the model could not be downloaded",
    "INSUFFICIENT_CAPACITY": "no GPU of the requested type was available",
    "INVALID_MODEL": "the model is not supported or its files are invalid",
}


@dataclass(frozen=True)
class EndpointStatus:
    """The parts of the status answer the pack uses, validated."""

    status: str
    phase: str | None = None
    error_code: str | None = None
    updated_at: float | None = None  # when the state last changed (Unix time), if the server says

    @classmethod
    def parse(cls, data: Any) -> "EndpointStatus | None":
        """From the server's JSON; None when it is not a status object at all."""
        if not isinstance(data, dict) or not isinstance(data.get("status"), str):
            return None
        status = data["status"].upper()
        phase, code = data.get("phase"), data.get("errorCode")
        return cls(status if status in STATUSES else "UNKNOWN",
                   phase.upper() if isinstance(phase, str) and phase.upper() in PHASES else None,
                   _code(code), _time(data.get("updatedAt")))

    def words(self) -> str:
        """E.g. ``waking · downloading model``."""
        text = self.status.lower()
        return f"{text} · {self.phase.lower().replace('_', ' ')}" if self.phase else text


def _time(value: Any) -> float | None:
    """An ISO 8601 time from the server as Unix time, or None."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)).timestamp()


def _code(code: Any) -> str | None:
    """An error code as a short word (letters, digits, ``_.-``): never control characters or a key."""
    if not isinstance(code, str):
        return None
    text = _CODE_JUNK.sub("_", scrub(code[:200]))[:80].strip("_")
    return text or None


def reset_wakes() -> None:
    """Forget when endpoints were last woken (tests; a fresh start)."""
    with _wakes_lock:
        _wakes.clear()


def explain(status: EndpointStatus) -> str:
    """What the state means for the user and what to do about it."""
    if status.status == "FAILED":
        reason = ERROR_WORDS.get(status.error_code or "", f"error {status.error_code}" if status.error_code else
                                 "no reason given")
        return (f"the endpoint has FAILED ({reason}). Open it in Friendli Suite > Endpoints to see the details, "
                "fix its configuration and restart it")
    if status.status in ("STOPPING", "TERMINATING", "TERMINATED"):
        return (f"the endpoint is {status.status} and will not answer. Start it again in Friendli Suite > "
                "Endpoints, or use another endpoint id")
    return f"the endpoint is {status.status}"


class Lifecycle:
    """The status, wake and sleep routes of one base URL, over the client's session."""

    def __init__(self, session: requests.Session, base_url: str, headers: dict[str, str],
                 timeout: tuple[float, float]) -> None:
        self.session, self.base_url, self.headers = session, base_url.rstrip("/"), dict(headers)
        self.timeout = (min(timeout[0], STATUS_TIMEOUT), min(timeout[1], STATUS_TIMEOUT))

    def status(self, endpoint_id: str, *, strict: bool = False) -> EndpointStatus | None:
        """The endpoint's state, or None when this server does not offer the route. ``strict``: a
        rejected key or team, an unknown endpoint raise their explained errors instead."""
        return self._call("GET", endpoint_id, "status", strict)

    def wake(self, endpoint_id: str, *, strict: bool = False) -> EndpointStatus | None:
        """Wake the endpoint — once per WAKE_INTERVAL for the whole process (the queued-prompt hook and
        every node waiting on it share one wake); otherwise just its state."""
        key, now = endpoint_key(self.base_url, endpoint_id), time.monotonic()
        with _wakes_lock:
            recent = now - _wakes.get(key, float("-inf")) < WAKE_INTERVAL
            if not recent:
                _wakes[key] = now
        return self._call("GET" if recent else "PUT", endpoint_id, "status" if recent else "wake", strict)

    def sleep(self, endpoint_id: str, *, strict: bool = False) -> EndpointStatus | None:
        return self._call("PUT", endpoint_id, "sleep", strict)

    def wait_until_ready(self, endpoint_id: str, *, stop: threading.Event, deadline: float | None,
                         on_event: Callable[[dict[str, Any]], None] | None = None, poll: float = 3.0) -> None:
        """Return once the endpoint runs (waking it if it sleeps); raise at once for a failed or gone
        endpoint, on ``stop`` (FriendliCancelledError) and at ``deadline`` (monotonic; FriendliTimeoutError).
        Returns immediately when the state cannot be known."""
        started, waited = time.monotonic(), False
        while True:
            status = self.status(endpoint_id)
            if status is None or status.status in READY or status.status == "UNKNOWN":
                if waited and on_event is not None:  # the progress line stops showing the wait
                    on_event({"type": "endpoint", "status": "RUNNING", "phase": None,
                              "waited": time.monotonic() - started})
                return
            if status.status in GONE:
                raise FriendliEndpointStateError(explain(status))
            if status.status == "SLEEPING":  # (again, if it fell asleep: wake sends at most one per interval)
                status = self.wake(endpoint_id) or status
            waited = True
            if on_event is not None:
                on_event({"type": "endpoint", "status": status.status, "phase": status.phase,
                          "waited": time.monotonic() - started})
            wait = poll if deadline is None else min(poll, deadline - time.monotonic())
            if wait <= 0:
                raise FriendliTimeoutError(f"the endpoint was still {status.words()} when the deadline passed; "
                                           "waking takes minutes, queue the prompt again shortly")
            if stop.wait(wait):
                raise FriendliCancelledError("cancelled while waiting for the endpoint")

    def info(self, endpoint_id: str, *, deadline: float | None = None) -> dict[str, Any] | None:
        """The endpoint's spec for people (``GET /dedicated/beta/endpoint/{id}``): name, GPU type and count,
        replicas (current, min, max) and the autoscaling cooldown, each None when the answer lacks it or
        holds something else; None when the route is unavailable."""
        data = self._get_json(self._url(endpoint_id, ""), "info", False, deadline=deadline)
        if not isinstance(data, dict):
            return None
        secrets = _secrets(self.headers)
        return {"name": _short(data.get("name"), secrets), "gpu_type": _short(data.get("gpuType"), secrets),
                **{key: _count(data.get(field)) for key, field in SPEC_COUNTS.items()}}

    def _url(self, endpoint_id: str, action: str) -> str:
        return f"{self.base_url}/dedicated/beta/endpoint/{quote(endpoint_id, safe='')}" + (f"/{action}" if action else "")

    def _call(self, method: str, endpoint_id: str, action: str, strict: bool) -> EndpointStatus | None:
        return EndpointStatus.parse(self._get_json(self._url(endpoint_id, action), action, strict, method))

    def send(self, method: str, url: str, *, limit: int = ERROR_BODY_MAX,
             deadline: float | None = None) -> tuple[int, bytes]:
        """(HTTP status, at most ``limit`` bytes of the body) of one request with this key and team, no
        redirects followed; ``deadline`` (monotonic, with an active CancelScope) bounds the whole read."""
        try:
            response = self.session.request(method, url, headers=self.headers, timeout=self.timeout,
                                            allow_redirects=False, stream=True, proxies=proxies_for(url))
            return response.status_code, read_body(response, limit, truncate=True, deadline=deadline)
        except FriendliError:
            raise
        except Exception as exc:  # noqa: BLE001 - requests, urllib3 and socket errors alike
            raise error_for_exception(exc, host_of(url), self.timeout[1]) from None

    def _get_json(self, url: str, action: str, strict: bool, method: str = "GET", *,
                  deadline: float | None = None) -> Any:
        """The JSON of a 200 answer (at most ERROR_BODY_MAX read), or None. Raises for a rejected key, and
        with ``strict`` for an unknown endpoint or a failed wake or sleep."""
        code, body = self.send(method, url, deadline=deadline)
        if code == 401 or strict and code in (403, 404):
            raise error_for_status(code, body, self.base_url, _secrets(self.headers))
        if strict and action in ("wake", "sleep") and code != 200 and code != 405:
            text, _ = server_detail(body, _secrets(self.headers))
            raise FriendliError(f"the endpoint could not {action}: HTTP {code}{': ' + text if text else ''}. "
                                "Try again, or use Friendli Suite > Endpoints", status=code)
        if code != 200:
            return None  # unknown; the edit itself will tell
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            return None


SPEC_COUNTS = {"num_gpu": "numGpu", "replicas_current": "currReplicaCnt", "replicas_min": "autoscalingMin",
               "replicas_max": "autoscalingMax", "cooldown_s": "autoscalingCooldown"}


def _short(value: Any, secrets: tuple[str, ...] = ()) -> str | None:
    """Text from the server for a line in the UI: printable, at most 80 characters, no key (``secrets``, or
    anything that looks like one)."""
    if not isinstance(value, str):
        return None
    text = "".join(c for c in scrub(value[:200], secrets) if c.isprintable()).strip()[:80]
    return text or None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10**7 else None


def _secrets(headers: dict[str, str]) -> tuple[str, ...]:
    auth = headers.get("Authorization", "")
    return (auth.partition(" ")[2],) if auth else ()
