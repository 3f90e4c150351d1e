"""The contract's request checks, with FastAPI-style 422 details (every error, not just the first)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

from PIL import Image

from .stand_in import open_image

MAX_IMAGE_BYTES = 50 * 1024 * 1024  # per decoded input image, as the API documents
FORMATS = ("url", "raw", "png", "jpeg", "jpg")
CONTAINER_FORMATS = ("raw", "jpeg")
COMMON = {"prompt", "model", "num_inference_steps", "guidance_scale", "seed", "response_format"}
FIELDS = {"edit": COMMON | {"image"}, "generate": COMMON | {"control_images", "controlnet_weights"}}
_DATA_URI = re.compile(r"data:([^;,]*)((?:;[^;,]*)*?);base64,(.*)", re.S)
_MISSING = object()  # an absent field


def validate(body: Any, container: bool, own_file: Callable[[str], bytes | None],
             op: str = "edit") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Parameters with defaults applied, and FastAPI-style errors (all of them); ``op`` is "edit"
    (``images``) or "generate" (``controls`` and ``weights``, both None when absent)."""
    errors: list[dict[str, Any]] = []

    def err(loc: tuple[Any, ...], msg: str, typ: str) -> None:
        errors.append({"loc": ["body", *loc], "msg": msg, "type": typ})

    if not isinstance(body, dict):
        err((), "Input should be a valid dictionary or object to extract fields from",
            "model_attributes_type")
        return {}, errors
    for key in sorted(set(body) - FIELDS[op]):
        err((key,), "Extra inputs are not permitted", "extra_forbidden")
    allowed = CONTAINER_FORMATS if container else FORMATS
    params = {
        **(_validate_controls(body, err, own_file) if op == "generate"
           else {"images": _validate_images(body.get("image", _MISSING), err, own_file)}),
        "prompt": _field(body, "prompt", "str", err, required=True, nullable=False),
        "model": _field(body, "model", "str", err, required=not container, nullable=container),
        "steps": _field(body, "num_inference_steps", "int", err, default=20, nullable=False),
        "guidance": _field(body, "guidance_scale", "number", err, default=0.0 if container else None),
        "seed": _field(body, "seed", "int", err),
        "format": _field(body, "response_format", "str", err, default=allowed[-1 if container else 0]),
    }
    model, steps, fmt = params["model"], params["steps"], params["format"]
    if not container and isinstance(model, str) and not re.fullmatch(r"[^:]+(:[^:]+)?", model):
        err(("model",), "Value error, model must be ENDPOINT_ID or ENDPOINT_ID:ADAPTER_ROUTE",
            "value_error")
    if _is_int(steps) and not 1 <= steps <= 50:
        typ, text = ("greater_than_equal", "greater than or equal to 1") if steps < 1 else (
            "less_than_equal", "less than or equal to 50")
        err(("num_inference_steps",), f"Input should be {text}", typ)
    if isinstance(fmt, str) and fmt not in allowed:
        names = ", ".join(f"'{f}'" for f in allowed[:-1]) + f" or '{allowed[-1]}'"
        err(("response_format",), f"Input should be {names}", "enum")
    return params, errors


def _validate_images(value: Any, err: Any, own_file: Callable[[str], bytes | None]) -> list[Image.Image]:
    if value is _MISSING:
        return err(("image",), "Field required", "missing") or []
    if isinstance(value, list) and not value:
        return err(("image",), "List should have at least 1 item after validation, not 0",
                   "too_short") or []
    if not isinstance(value, (dict, list)):
        return err(("image",), 'Input should be an object {"image": str} or a list of them',
                   "model_type") or []
    items = [((), value)] if isinstance(value, dict) else [((i,), v) for i, v in enumerate(value)]
    return _image_inputs("image", items, err, own_file)


def _validate_controls(body: dict[str, Any], err: Any, own_file: Callable[[str], bytes | None]) -> dict[str, Any]:
    """control_images (a list of ImageInput, or null) and controlnet_weights (numbers in [0, 1], one per
    control image, or null)."""
    images, weights = body.get("control_images"), body.get("controlnet_weights")
    controls = None
    if images is not None:
        if not isinstance(images, list):
            err(("control_images",), "Input should be a valid list", "list_type")
        else:
            controls = _image_inputs("control_images", [((i,), v) for i, v in enumerate(images)], err, own_file)
    if weights is not None:
        if not isinstance(weights, list):
            err(("controlnet_weights",), "Input should be a valid list", "list_type")
            weights = None
        else:
            for i, w in enumerate(weights):
                if not _CHECKS["number"][0](w):
                    err(("controlnet_weights", i), "Input should be a valid number", "float_type")
                elif not 0 <= w <= 1:
                    typ, text = ("greater_than_equal", "greater than or equal to 0") if w < 0 else (
                        "less_than_equal", "less than or equal to 1")
                    err(("controlnet_weights", i), f"Input should be {text}", typ)
            count = len(images) if isinstance(images, list) else 0
            if len(weights) != count:
                err(("controlnet_weights",), f"Value error, {len(weights)} weight(s) for {count} control "
                    "image(s): give one weight per control image", "value_error")
    return {"controls": controls, "weights": weights}


def _image_inputs(field: str, items: list[tuple[Any, Any]], err: Any,
                  own_file: Callable[[str], bytes | None]) -> list[Image.Image]:
    """ImageInput objects (``{"image": str}``, nothing else) -> opened images; ``items`` = (loc, item)."""
    images = []
    for sub, item in items:
        loc = (field, *sub)
        if not isinstance(item, dict):
            err(loc, "Input should be a valid dictionary or instance of ImageInput", "model_type")
            continue
        for key in sorted(set(item) - {"image"}):
            err((*loc, key), "Extra inputs are not permitted", "extra_forbidden")
        text = _field(item, "image", "str", lambda lc, m, t: err((*loc, *lc), m, t), required=True,
                      nullable=False)
        if isinstance(text, str):
            try:
                images.append(load_image(text, own_file))
            except ValueError as exc:
                err((*loc, "image"), f"Value error, {exc}", "value_error")
    return images


def load_image(text: str, own_file: Callable[[str], bytes | None]) -> Image.Image:
    """A data URI, bare base64 or a URL on our own file server -> an opened image."""
    declared = None
    if text.startswith(("http://", "https://")):
        data = own_file(text)
        if data is None:
            raise ValueError("URL inputs are not supported by the emulator (only its own result files)")
        return open_image(data)
    if text.startswith("data:"):
        match = _DATA_URI.fullmatch(text)
        if not match:
            raise ValueError("malformed data URI; expected data:image/<type>;base64,<data>")
        declared, text = match.group(1).lower(), match.group(3)
        if not declared.startswith("image/"):
            raise ValueError(f"data URI MIME type {declared!r} is not an image type")
    if len(text) > (MAX_IMAGE_BYTES + 2) // 3 * 4:
        raise ValueError("the image exceeds 50 MiB")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("invalid base64 image data") from None
    if len(data) > MAX_IMAGE_BYTES:
        raise ValueError("the image exceeds 50 MiB")
    img = open_image(data)
    actual = "image/jpeg" if img.format == "MPO" else img.get_format_mimetype() or "unknown"
    if declared is not None and declared.replace("image/jpg", "image/jpeg") != actual:
        raise ValueError(f"data URI MIME type {declared} does not match the image data ({actual})")
    return img


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_CHECKS = {
    "str": (lambda v: isinstance(v, str), "Input should be a valid string", "string_type"),
    "int": (_is_int, "Input should be a valid integer", "int_type"),
    "number": (lambda v: _is_int(v) or isinstance(v, float), "Input should be a valid number", "float_type"),
}


def _field(body: dict[str, Any], name: str, kind: str, err: Any, *, required: bool = False,
           nullable: bool = True, default: Any = None) -> Any:
    """body[name] checked against a JSON type; missing or null (when allowed) gives the default."""
    value = body.get(name, _MISSING)
    if value is _MISSING or (value is None and nullable):
        if value is _MISSING and required:
            err((name,), "Field required", "missing")
        return default
    check, msg, typ = _CHECKS[kind]
    if not check(value):
        err((name,), msg, typ)
    return value


def reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
