"""The emulator's Dedicated Endpoints: each one's lifecycle and spec, and the beta routes that show them.

Field names are the official SDK's (``friendli`` 0.16.5, ``friendli.core.models``), in their JSON form:

- ``GET /dedicated/beta/endpoint/{id}`` → ``DedicatedEndpointSpec``: ``name``, ``gpuType``, ``numGpu``,
  ``projectId``, ``creatorId``, ``teamId``, ``autoscalingMin``, ``autoscalingMax``, ``autoscalingCooldown``,
  ``maxBatchSize``, ``tokenizerSkipSpecialTokens``, ``tokenizerAddSpecialTokens`` (required), and
  ``currReplicaCnt``, ``desiredReplicaCnt``, ``updatedReplicaCnt`` (nullable), which follow the lifecycle.
- ``GET /dedicated/beta/endpoint?project_id=&cursor=&limit=`` → ``DedicatedEndpointListResponse``:
  ``{"data": {ENDPOINT_ID: DedicatedEndpointStatus}, "nextCursor": str | null}`` (the SDK's Python
  attribute is ``next_cursor``, its JSON alias ``nextCursor``). Pages are in id order; the cursor is
  opaque (base64url of the last id sent), so endpoints added or removed between pages shift nothing.
- ``GET …/{id}/status``, ``PUT …/{id}/wake``, ``PUT …/{id}/sleep`` → ``DedicatedEndpointStatus``.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any
from urllib.parse import parse_qs, unquote

from .lifecycle import EndpointSim

ROUTE = re.compile(r"^/dedicated/beta/endpoint(?:/([^/]+)(?:/(status|wake|sleep))?)?$")
DEFAULT_LIMIT, MAX_LIMIT = 20, 100  # the SDK's default page size; the emulator's bound (the API's is undocumented)
_DOWN = ("SLEEPING", "STOPPING", "TERMINATING", "TERMINATED", "UNKNOWN")  # no replica wanted
_UP = ("RUNNING", "READY", "UPDATING")  # replicas serving


class EmulatedEndpoint(EndpointSim):
    """One emulated endpoint: its lifecycle (EndpointSim) plus ``spec`` (JSON field names, editable)
    and ``replicas`` (how many run while it is up). ``currReplicaCnt``/``desiredReplicaCnt``/
    ``updatedReplicaCnt`` follow the state (0 while asleep) unless set in ``spec``."""

    def __init__(self, endpoint_id: str, **spec: Any) -> None:
        super().__init__()
        self.id = endpoint_id
        self.replicas = 1
        self.spec: dict[str, Any] = {
            "name": f"{endpoint_id} (emulated)", "gpuType": "NVIDIA H100", "numGpu": 1,
            "projectId": "emulated-project", "creatorId": "emulated-user", "teamId": "emulated-team",
            "autoscalingMin": 0, "autoscalingMax": 1, "autoscalingCooldown": 600, "maxBatchSize": 1,
            "tokenizerSkipSpecialTokens": True, "tokenizerAddSpecialTokens": False, **spec}

    def spec_answer(self) -> dict[str, Any]:
        state = self.status()["status"]
        curr = self.replicas if state in _UP else 0
        counts = {"currReplicaCnt": curr, "desiredReplicaCnt": 0 if state in _DOWN else self.replicas,
                  "updatedReplicaCnt": curr}
        return {**self.spec, **{k: v for k, v in counts.items() if k not in self.spec}}


def answer(endpoints: dict[str, EmulatedEndpoint], method: str, endpoint_id: str | None,
           action: str | None, query: str) -> tuple[int, Any, dict[str, str]]:
    """(HTTP status, body, headers) for a beta endpoint route (the caller checked the key)."""
    if endpoint_id is None:
        if method != "GET":
            return 405, {"detail": "Method Not Allowed"}, {"Allow": "GET"}
        return list_page(endpoints, query)
    endpoint_id = unquote(endpoint_id)
    endpoint = endpoints.get(endpoint_id)
    if action is None and method != "GET":
        return 405, {"detail": "Method Not Allowed"}, {"Allow": "GET"}
    if endpoint is None:
        return 404, {"detail": f"Endpoint {endpoint_id} not found"}, {}
    if action is None:
        return 200, endpoint.spec_answer(), {}
    status, body = endpoint.answer(method, action)
    return status, body, {}


def list_page(endpoints: dict[str, EmulatedEndpoint], query: str) -> tuple[int, Any, dict[str, str]]:
    """One page of the listing, or a FastAPI-style 422 naming the query parameter."""
    params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}  # the last one wins
    errors, limit, after = [], DEFAULT_LIMIT, None
    if "limit" in params:
        try:
            limit = int(params["limit"])
        except ValueError:
            errors.append(_error("limit", "Input should be a valid integer, unable to parse string as an "
                                 "integer", "int_parsing"))
        else:
            if not 1 <= limit <= MAX_LIMIT:
                typ, text = ("greater_than_equal", "greater than or equal to 1") if limit < 1 else (
                    "less_than_equal", f"less than or equal to {MAX_LIMIT}")
                errors.append(_error("limit", f"Input should be {text}", typ))
    if params.get("cursor"):
        after = decode_cursor(params["cursor"])
        if after is None:
            errors.append(_error("cursor", "Value error, invalid cursor", "value_error"))
    if errors:
        return 422, {"detail": errors}, {}
    project = params.get("project_id", "")
    known = dict(endpoints)  # as it is now, even if a test changes it meanwhile
    ids = sorted(i for i, e in known.items()
                 if (not project or e.spec.get("projectId") == project) and (after is None or i > after))
    page = ids[:limit]
    data = {i: known[i].status() for i in page}
    more = len(ids) > limit
    return 200, {"data": data, "nextCursor": encode_cursor(page[-1]) if more else None}, {}


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> str | None:
    try:
        return base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
    except (binascii.Error, ValueError):
        return None


def _error(name: str, msg: str, typ: str) -> dict[str, Any]:
    return {"loc": ["query", name], "msg": msg, "type": typ}
