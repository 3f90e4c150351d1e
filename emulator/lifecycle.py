"""A simulated Dedicated Endpoint lifecycle: sleeping, waking through its phases, running, failed.

Answers ``GET /dedicated/beta/endpoint/{id}/status``, ``PUT …/wake`` and ``PUT …/sleep`` with
``{"status", "createdAt", "updatedAt", "phase", "errorCode"}``, as the official SDK describes them.
An edit or generation sent to a sleeping endpoint starts the wake, as a real one does; they get 503
until it runs. Each emulated endpoint has its own (emulator/endpoints.py, ``EmulatedEndpoint``).
"""

from __future__ import annotations

import threading
import time
from typing import Any

PHASES = ("REQUESTING_VIRTUAL_MACHINE", "DOWNLOADING_MODEL", "ENGINE_INITIALIZING")
CREATED = "2026-01-01T00:00:00Z"


class EndpointSim:
    """The lifecycle state of one emulated endpoint."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Running, with short phases."""
        with self._lock:
            self._state, self._error = "RUNNING", None
            self._phases = (0.2, 0.2, 0.2)
            self._waking_since: float | None = None
            self.wakes = self.sleeps = 0

    def set_state(self, state: str, phases: tuple[float, float, float] | None = None) -> None:
        """Put the endpoint into ``state`` (e.g. SLEEPING); ``phases`` = seconds of each wake phase."""
        with self._lock:
            self._state, self._error, self._waking_since = state, None, None
            if phases is not None:
                self._phases = tuple(phases)  # type: ignore[assignment]

    def fail(self, error_code: str) -> None:
        with self._lock:
            self._state, self._error, self._waking_since = "FAILED", error_code, None

    def wake(self) -> None:
        """Start waking a sleeping endpoint (an edit request does this too)."""
        with self._lock:
            self.wakes += 1
            if self._state == "SLEEPING":
                self._state, self._waking_since = "AWAKING", time.monotonic()

    def sleep(self) -> None:
        with self._lock:
            self.sleeps += 1
            if self._state in ("RUNNING", "READY", "AWAKING"):
                self._state, self._waking_since = "SLEEPING", None

    def status(self) -> dict[str, Any]:
        """The status object, advancing a wake through its phases by the clock."""
        with self._lock:
            phase = None
            if self._state == "AWAKING" and self._waking_since is not None:
                elapsed = time.monotonic() - self._waking_since
                for name, seconds in zip(PHASES, self._phases):
                    if elapsed < seconds:
                        phase = name
                        break
                    elapsed -= seconds
                else:
                    self._state, self._waking_since = "RUNNING", None
            return {"status": self._state, "createdAt": CREATED, "updatedAt": None, "phase": phase,
                    "errorCode": self._error}

    @property
    def running(self) -> bool:
        return self.status()["status"] in ("RUNNING", "READY")

    def answer(self, method: str, action: str) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body) for a lifecycle route."""
        if action == "status":
            return (200, self.status()) if method == "GET" else (405, {"detail": "Method Not Allowed"})
        if method != "PUT":
            return 405, {"detail": "Method Not Allowed"}
        self.wake() if action == "wake" else self.sleep()
        return 200, self.status()
