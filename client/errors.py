"""One small exception hierarchy; every message says what went wrong and what to do.

Messages never contain the API token: they are built from status codes, server
details and our own text only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any


class FriendliError(Exception):
    """Base class of every error this package raises."""

    status: int | None = None

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle and copy every subclass alike: its message and attributes, whatever its __init__ takes."""
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(cls: type[FriendliError], args: tuple[Any, ...], state: dict[str, Any]) -> FriendliError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class FriendliConfigError(FriendliError):
    """Missing or invalid configuration (token, base URL, service)."""


class FriendliInputError(FriendliError, ValueError):
    """A request argument is invalid; raised before anything is sent."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class FriendliAuthError(FriendliError):
    """401/403: the key or the team is not accepted."""


class FriendliNotFoundError(FriendliError):
    """404: no such endpoint, or the base URL is wrong."""


class FriendliValidationError(FriendliError):
    """422: the server rejected fields of the request."""

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message, status=422)
        self.details = details or []


class FriendliRateLimitError(FriendliError):
    """429 after every retry: a rate or queue limit was hit."""


class FriendliServerError(FriendliError):
    """5xx after every retry."""


class FriendliEndpointWakingError(FriendliServerError):
    """The endpoint was scaled to zero and is still waking up."""


class FriendliEndpointStateError(FriendliError):
    """The endpoint is failed, stopping or terminated: it will not answer."""


class FriendliTimeoutError(FriendliError):
    """A connect or read timeout, or the total deadline, passed."""


class FriendliResponseError(FriendliError):
    """The answer is not what the contract promises (not JSON, no data, not an image)."""


class FriendliNetworkError(FriendliError):
    """The request did not reach the server; `kind` is dns, refused, tls, proxy or other."""

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class FriendliCancelledError(FriendliError):
    """The caller's cancellation hook asked to stop."""


class FriendliBatchError(FriendliError):
    """One item of a batch failed; `index` is 0-based, `cause` the item's error."""

    def __init__(self, index: int, total: int, cause: BaseException, *, finished: int = 0,
                 stored: bool | None = None) -> None:
        """``finished``: other items that succeeded; ``stored``: whether they were kept in the result store
        (None: unknown, not said)."""
        kept = ""
        if finished and stored is not None:
            what = f"{finished} finished result{'s' if finished > 1 else ''}"
            kept = (f". {what} {'were' if finished > 1 else 'was'} kept in the result store: queue the prompt "
                    "again to send only the rest" if stored else
                    f". {what} {'were' if finished > 1 else 'was'} not kept (the result store is off)")
        super().__init__(f"image {index + 1} of {total} failed: {cause}{kept}", status=getattr(cause, "status", None))
        self.index = index
        self.total = total
        self.cause = cause
        self.finished = finished


_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")  # e.g. <_io.BytesIO object at 0x7f…>


def plain(text: str) -> str:
    """``text`` (a library's own error message) without Python object reprs such as ``<_io.BytesIO object at
    0x…>``: they tell the user nothing."""
    return re.sub(r"\s+", " ", _REPR.sub("", text)).strip(" :")


_SECRET_PATTERNS = re.compile(r"(?i)\b(bearer)\s+[^\s\"',;]+|\bflp_[A-Za-z0-9_\-]+")


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with the given secrets, any ``Bearer …`` credential and any ``flp_…`` key redacted."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return _SECRET_PATTERNS.sub(lambda m: f"{m.group(1)} [redacted]" if m.group(1) else "flp_[redacted]", text)
