"""The image request as a value — an edit or a generation — every field but the images, validated
once, rendered per service and route."""

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
EDIT, GENERATE = "edit", "generate"  # POST …/images/edits (images to change) or …/images/generations
MAX_CONTROL_IMAGES = 16


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class ImageRequest:
    """What to ask the endpoint, except the images. ``kind`` is EDIT (the images are what to change) or
    GENERATE (the images, if any, are control images, one weight each in ``controlnet_weights``).
    ``validate(service)`` raises FriendliInputError naming the field; ``body(service, images)`` gives
    the JSON body."""

    prompt: str
    endpoint_id: str | None = ""
    adapter_route: str | None = ""
    num_inference_steps: int = 20
    guidance_scale: float | None = None
    seed: int | None = None
    response_format: str = "png"
    image_format: str = "png"  # how local images are encoded before sending
    kind: str = EDIT
    controlnet_weights: tuple[float, ...] | None = None  # GENERATE: one per control image; None = all 1.0

    def validate(self, service: str) -> "EditRequest":
        """Check every field for ``service``; returns self so calls chain."""
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise FriendliInputError("prompt", f"is empty; describe the {'image' if self.kind == GENERATE else 'edit'} "
                                     "you want")
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
        if self.kind not in (EDIT, GENERATE):
            raise FriendliInputError("kind", f"{self.kind!r} is not {EDIT} or {GENERATE}")
        for weight in self.controlnet_weights or ():
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= 1:
                raise FriendliInputError("controlnet_weights", f"{weight!r} is not a number from 0 to 1")
        if self.controlnet_weights is not None and self.kind != GENERATE:
            raise FriendliInputError("controlnet_weights", "apply to a generation's control images only")
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

    def with_seed(self, seed: int | None) -> "ImageRequest":
        return replace(self, seed=seed)

    def body(self, service: str, images: str | list[str]) -> dict[str, Any]:
        """The JSON body; ``images`` are payload strings (an edit: a list = the list form of ``image``;
        a generation: the control images, a list, possibly empty)."""
        self.validate(service)
        body: dict[str, Any] = self._images(images)
        body |= {
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

    def _images(self, images: str | list[str]) -> dict[str, Any]:
        if self.kind == EDIT:
            return {"image": [{"image": i} for i in images] if isinstance(images, list) else {"image": images}}
        controls = images if isinstance(images, list) else [images]
        weights = self.controlnet_weights
        if len(controls) > MAX_CONTROL_IMAGES:
            raise FriendliInputError("control_images", f"{len(controls)} given; at most {MAX_CONTROL_IMAGES}")
        if weights is not None and len(weights) != len(controls):
            raise FriendliInputError("controlnet_weights", f"{len(weights)} weight(s) for {len(controls)} control "
                                     "image(s): give one weight per control image (or none for all 1.0)")
        return {"control_images": [{"image": i} for i in controls] or None,
                "controlnet_weights": [float(w) for w in weights] if weights else None}


EditRequest = ImageRequest  # the name of the Python API before generation (kept for scripts)
