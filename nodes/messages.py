"""The first line of an error in the user's language (Settings > Comfy > Locale, told to the server by
the web extension), above the English message kept whole for logs and bug reports. Titles live in
``locales/<lang>/errors.json``; English and unknown languages leave the message as it is."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from ..client import errors
from . import host

LOCALES = Path(__file__).resolve().parents[1] / "locales"
KINDS: tuple[tuple[type[BaseException], str], ...] = (  # most specific first
    (errors.FriendliEndpointWakingError, "waking"), (errors.FriendliAuthError, "auth"),
    (errors.FriendliNotFoundError, "not_found"), (errors.FriendliValidationError, "rejected"),
    (errors.FriendliRateLimitError, "rate_limit"), (errors.FriendliServerError, "server"),
    (errors.FriendliEndpointStateError, "state"), (errors.FriendliTimeoutError, "timeout"),
    (errors.FriendliResponseError, "response"), (errors.FriendliNetworkError, "network"),
    (errors.FriendliConfigError, "setup"), (errors.FriendliInputError, "input"),
    (errors.FriendliCancelledError, "cancelled"), (errors.FriendliError, "error"))


@functools.lru_cache(maxsize=None)
def titles(lang: str) -> dict[str, str]:
    """The error titles of ``lang`` (empty for English and languages without a file)."""
    if lang == "en" or not lang.replace("-", "").isalpha():
        return {}
    try:
        data = json.loads((LOCALES / lang / "errors.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def language() -> str:
    return host.preferences().locale


def title(kind: str, lang: str | None = None, **values: Any) -> str | None:
    """The translated title of ``kind``, or None (English, or no translation)."""
    text = titles(lang or language()).get(kind)
    return text.format(**values) if text else None


def localized(message: str, kind: str) -> str:
    """``message`` under its translated title (a VALIDATE_INPUTS message, say)."""
    heading = title(kind)
    return f"{heading}\n{message}" if heading else message


def translate(exc: BaseException) -> None:
    """Put the translated title above the message of a FriendliError (in place; the type is kept)."""
    if not isinstance(exc, errors.FriendliError) or getattr(exc, "localized", False):
        return
    cause = exc.cause if isinstance(exc, errors.FriendliBatchError) else exc
    kind = next((k for cls, k in KINDS if isinstance(cause, cls)), "error")
    heading = title(kind)
    if isinstance(exc, errors.FriendliBatchError):
        image = title("image_failed", index=exc.index + 1, total=exc.total)
        heading = f"{image} · {heading}" if image and heading else image or heading
    if heading:
        exc.args = (f"{heading}\n{exc}",) + exc.args[1:]
        exc.localized = True  # type: ignore[attr-defined]


def in_user_language(method: Any) -> Any:
    """Decorate an ``async`` node method: its FriendliErrors get a translated first line."""
    @functools.wraps(method)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return await method(*args, **kwargs)
        except errors.FriendliError as exc:
            translate(exc)
            raise
    return wrapper
