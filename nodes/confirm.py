"""Asking before a large run: a run that would send more requests than Settings > Friendli allows
without asking waits for the browser's answer (``friendli.confirm`` event, ``POST /friendli/confirm``).
With no browser attached (API use) the setting's choice applies. Declining, or Cancel while the
question is open, sends nothing. Once the endpoint's recent answer times are known, the question says
what the run will likely take in endpoint time, and cost when a price is set."""

from __future__ import annotations

import asyncio
import math
import threading
import time
import uuid
from typing import Any, TypedDict

from ..client.errors import FriendliCancelledError, FriendliInputError
from ..client.prefs import Preferences
from . import host

EVENT = "friendli.confirm"
WAIT_S = 600.0  # an unanswered question counts as declined after this long



class Estimate(TypedDict):
    seconds: float  # endpoint time
    cost: float | None  # USD, when a price is set and the endpoint's GPUs are known


def estimate(median: float, requests: int, parallel: int, usd_per_hour: float) -> Estimate:
    """``requests`` answered in ``median`` seconds each, ``parallel`` at a time, at ``usd_per_hour``."""
    seconds = math.ceil(requests / max(1, parallel)) * median
    return {"seconds": round(seconds, 1), "cost": round(seconds / 3600 * usd_per_hour, 2) if usd_per_hour else None}


def wording(requests: int, guess: Estimate | None) -> str:
    """The question in English (the browser says it in the user's language from the event's fields)."""
    if guess is None:
        return f"This run sends {requests} requests to the endpoint (billed GPU time). Send them?"
    cost = "" if guess["cost"] is None else f", ≈ ${guess['cost']:.2f}" if guess["cost"] >= 0.01 else ", < $0.01"
    return (f"This run sends {requests} requests to the endpoint (billed GPU time): about {guess['seconds']:.0f} s "
            f"of endpoint time{cost}, judging by its recent answers. Send them?")


_answers: dict[str, bool | None] = {}  # open questions -> the answer once given
_lock = threading.Lock()


def answer(question: str, ok: bool) -> bool:
    """The browser's answer (the route); False when no such question is open or it was answered."""
    with _lock:
        if question not in _answers or _answers[question] is not None:
            return False
        _answers[question] = bool(ok)
        return True


async def ask(requests: int, node_id: Any, settings: Preferences, guess: Estimate | None = None) -> None:
    """Return when the run may send ``requests``; otherwise raise before anything is sent. ``guess``: what
    they will likely take (``estimate``), said in the question."""
    limit = settings.confirm_over
    if not limit or requests <= limit:
        return
    if not host.browser_attached():
        if settings.confirm_headless == "send":
            return
        raise FriendliInputError("image", f"this run would send {requests} requests, more than the {limit} set in "
                                 "Settings > Friendli > 'Ask before a run sends more than', and no browser is "
                                 "attached to ask; nothing was sent. Raise that setting, or set 'With no browser "
                                 "attached' to send")
    question = uuid.uuid4().hex
    with _lock:
        _answers[question] = None
    host.send_event(EVENT, {"id": question, "node": None if node_id is None else str(node_id), "requests": requests,
                            "estimate": guess, "message": wording(requests, guess)})
    end = time.monotonic() + WAIT_S
    try:
        while _answers[question] is None and not host.interrupted() and time.monotonic() < end:
            await asyncio.sleep(0.1)
    finally:
        with _lock:
            ok = _answers.pop(question)
    if not ok:
        host.raise_interrupted(FriendliCancelledError(f"not sent: the run of {requests} requests was declined"))
