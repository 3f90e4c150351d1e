"""FriendliEndpoint: where the edit nodes send their requests (never the token)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..client.config import BASE_URL_ENV, CONTAINER, DEDICATED, SERVICES, TEAM_ENV
from ..client.errors import FriendliInputError

ENDPOINT_TYPE = "FRIENDLI_ENDPOINT"


@dataclass(frozen=True)
class Endpoint:
    """Connection settings passed between nodes; empty strings mean "use the default"."""

    service: str = DEDICATED
    endpoint_id: str = ""
    adapter_route: str = ""
    base_url: str = ""
    team: str = ""


def resolve(endpoint: Endpoint | None, endpoint_id: str, adapter_route: str) -> Endpoint:
    """The settings an edit node uses: a connected FriendliEndpoint wins over the node's own widgets.

    Service, base URL and team always come from ``endpoint`` when it is connected; its endpoint
    id and adapter route replace the node's widgets only when they are non-empty.
    """
    if endpoint is None:
        return Endpoint(DEDICATED, (endpoint_id or "").strip(), (adapter_route or "").strip())
    return Endpoint(endpoint.service, endpoint.endpoint_id or (endpoint_id or "").strip(),
                    endpoint.adapter_route or (adapter_route or "").strip(), endpoint.base_url, endpoint.team)


class FriendliEndpoint:
    """Holds the service, endpoint id, adapter route, base URL and team for the edit nodes."""

    CATEGORY = "Friendli"
    DESCRIPTION = ("Connection settings for the Friendli edit nodes: a Dedicated Endpoint on FriendliAI or a "
                   "self-hosted Friendli Container. The API key is never stored here: it comes from the "
                   "FRIENDLI_TOKEN environment variable or Settings > Friendli.")
    RETURN_TYPES = (ENDPOINT_TYPE,)
    RETURN_NAMES = ("endpoint",)
    OUTPUT_TOOLTIPS = ("Connect to the 'endpoint' input of Friendli Image Edit or Friendli Multi-Image Edit.",)
    FUNCTION = "build"

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {"required": {
            "service": (list(SERVICES), {"default": DEDICATED, "tooltip": (
                "dedicated: a Friendli Dedicated Endpoint (needs the API key and an endpoint id). "
                f"{CONTAINER}: a self-hosted Friendli Container (no key; response_format jpeg or raw only).")}),
            "endpoint_id": ("STRING", {"default": "", "tooltip": (
                "Dedicated Endpoint id from Friendli Suite > Endpoints. When non-empty it replaces the edit "
                "node's own endpoint_id. Not used by a Container.")}),
            "adapter_route": ("STRING", {"default": "", "tooltip": (
                "Optional LoRA adapter route. When non-empty it replaces the edit node's own adapter_route.")}),
            "base_url": ("STRING", {"default": "", "tooltip": (
                f"Empty = the {BASE_URL_ENV} environment variable, else https://api.friendli.ai (dedicated) "
                "or http://localhost:8000 (container). Any other host gets your API key only if it is listed "
                "in Settings > Friendli > Trusted hosts.")}),
            "team": ("STRING", {"default": "", "tooltip": (
                f"Team id sent as X-Friendli-Team. Empty = the {TEAM_ENV} environment variable, else the team "
                "saved in Settings > Friendli, else your default team.")}),
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, service: Any = None) -> bool | str:
        from . import validate

        return validate.endpoint_node(service)  # names one field: see nodes/validate.py

    def build(self, service: str, endpoint_id: str, adapter_route: str, base_url: str,
              team: str) -> tuple[Endpoint]:
        if service not in SERVICES:
            raise FriendliInputError("service", f"{service!r} is not one of {', '.join(SERVICES)}")
        from . import validate

        validate.check_base_url(service, base_url)  # before any node sends the key there
        return (Endpoint(service, endpoint_id.strip(), adapter_route.strip(), base_url.strip(), team.strip()),)
