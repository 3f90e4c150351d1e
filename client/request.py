"""The edit request as a value: every field but the images, validated once, rendered per service."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from .config import CONTAINER
from .errors import FriendliInputError

RESPONSE_FORMATS = {"dedicated": ("png", "jpeg", "jpg", "raw", "url"), CONTAINER: ("jpeg", "raw")}
IMAGE_FORMATS = ("png", "jpeg", "jpg")
SEED_MAX = 0xFFFFFFFF
MAX_PROMPT_CHARS = 100_000


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class EditRequest:
    """What to ask the endpoint, except the images. ``validate(service)`` raises FriendliInputError
    naming the field; ``body(service, images)`` gives the JSON body."""

    prompt: str
    endpoint_id: str | None = ""
    adapter_route: str | None = ""
    num_inference_steps: int = 20
    guidance_scale: float | None = None
    seed: int | None = None
    response_format: str = "png"
    image_format: str = "png"  # how local images are encoded before sending

    def validate(self, service: str) -> "EditRequest":
        """Check every field for ``service``; returns self so calls chain."""
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise FriendliInputError("prompt", "is empty; describe the edit you want")
        if len(self.prompt) > MAX_PROMPT_CHARS:
            raise FriendliInputError("prompt", f"is {len(self.prompt)} characters long; keep it under {MAX_PROMPT_CHARS}")
        self.model(service)
        steps = self.num_inference_steps
        if not _is_int(steps) or not 1 <= steps <= 50:
            raise FriendliInputError("num_inference_steps", f"{steps!r} is not a whole number from 1 to 50")
        g = self.guidance_scale
        if g is not None and (isinstance(g, bool) or not isinstance(g, (int, float)) or not math.isfinite(g) or g < 0):
            raise FriendliInputError("guidance_scale", f"{g!r} is not a number ≥ 0 (or None to leave it to the endpoint)")
        if self.seed is not None and (not _is_int(self.seed) or not 0 <= self.seed <= SEED_MAX):
            raise FriendliInputError("seed", f"{self.seed!r} is not a whole number from 0 to {SEED_MAX} "
                                     "(or None for a random seed)")
        formats = RESPONSE_FORMATS[service]
        if self.response_format not in formats:
            raise FriendliInputError("response_format", f"{self.response_format!r} is not one of "
                                     f"{', '.join(formats)} for the {service} service")
        if self.image_format not in IMAGE_FORMATS:
            raise FriendliInputError("image_format", f"{self.image_format!r} is not one of png, jpeg")
        return self

    def model(self, service: str) -> str | None:
        """``ENDPOINT_ID[:ADAPTER_ROUTE]`` (dedicated), the adapter route or None (container)."""
        parts = {}
        for name in ("endpoint_id", "adapter_route"):
            value = getattr(self, name) or ""  # None = not given
            if not isinstance(value, str):
                raise FriendliInputError(name, "must be text")
            value = value.strip()
            if any(c.isspace() or not c.isprintable() for c in value) or ":" in value or len(value) > 512:
                raise FriendliInputError(name, f"{value[:80]!r} must not contain spaces, control characters or ':'")
            parts[name] = value
        endpoint_id, route = parts["endpoint_id"], parts["adapter_route"]
        if service == CONTAINER:
            return route or None
        if not endpoint_id:
            raise FriendliInputError("endpoint_id", "is empty; copy the endpoint id from Friendli Suite > Endpoints")
        return f"{endpoint_id}:{route}" if route else endpoint_id

    def with_seed(self, seed: int | None) -> "EditRequest":
        return replace(self, seed=seed)

    def body(self, service: str, images: str | list[str]) -> dict[str, Any]:
        """The JSON body; ``images`` are payload strings (a list = the list form of ``image``)."""
        self.validate(service)
        image = [{"image": i} for i in images] if isinstance(images, list) else {"image": images}
        body: dict[str, Any] = {
            "image": image,
            "prompt": self.prompt,
            "model": self.model(service),
            "num_inference_steps": self.num_inference_steps,
            "guidance_scale": None if self.guidance_scale is None else float(self.guidance_scale),
            "seed": self.seed,
            "response_format": self.response_format,
        }
        if service == CONTAINER:  # the container takes no nulls; its defaults apply instead
            body = {k: v for k, v in body.items() if v is not None}
        return body
