"""The public Python API: ``FriendliImageClient(...).edit(image, prompt, endpoint_id=...)``."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Union
from urllib.parse import urlsplit

import numpy as np
import requests
from PIL import Image

from . import codec
from .config import CONTAINER, DEDICATED, MISSING_TOKEN_HELP, resolve_settings
from .errors import FriendliConfigError, FriendliInputError, FriendliResponseError
from .runner import run_jobs
from .transport import (download_session, error_for_exception, error_for_status, host_of, make_session,
                        parse_json)
from .version import __version__

ImageLike = Union[np.ndarray, Image.Image, bytes, str]
RESPONSE_FORMATS = {DEDICATED: ("png", "jpeg", "jpg", "raw", "url"), CONTAINER: ("jpeg", "raw")}
USER_AGENT = f"comfyui-friendli/{__version__} python-requests/{requests.__version__}"
MAX_DOWNLOAD_BYTES = 100 * 1024 * 1024


@dataclass
class EditedImage:
    """One result: the file bytes as received, their MIME type, and the seed the endpoint reports."""

    data: bytes = field(repr=False)
    mime: str
    seed: int | None
    response_format: str

    @cached_property
    def image(self) -> np.ndarray:
        """The decoded pixels, uint8 HxWxC (C = 1, 3 or 4 as the file has it)."""
        return codec.decode_image(self.data)


class FriendliImageClient:
    """Edit images with a Friendli Dedicated Endpoint or a Friendli Container.

    Token, base URL and team resolve as described in ``config``; the token goes
    only to the base URL (never to ``url`` result hosts) and never into a repr.
    ``on_event`` receives retry notices (dicts with ``type == "retry"``).
    """

    def __init__(
        self,
        *,
        service: str = DEDICATED,
        token: str | None = None,
        base_url: str | None = None,
        team: str | None = None,
        credentials_path: Path | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 600.0,
        deadline: float = 1800.0,
        max_retries: int = 5,
        backoff_factor: float = 0.5,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.settings = resolve_settings(service, token=token, base_url=base_url, team=team,
                                         credentials_path=credentials_path)
        self.timeout = (connect_timeout, read_timeout)
        self.deadline = deadline
        self.on_event = on_event
        self._session = make_session(max_retries, backoff_factor, on_retry=self._emit)
        self._download_session = download_session()  # no auth, ever

    def __repr__(self) -> str:
        s = self.settings
        return (f"FriendliImageClient(service={s.service!r}, base_url={s.base_url!r}, team={s.team!r}, "
                f"token={'<from ' + s.token_source + '>' if s.token else None})")

    def __enter__(self) -> "FriendliImageClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()
        self._download_session.close()

    def _emit(self, event: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(event)

    # -- requests -------------------------------------------------------------------------

    def build_body(
        self,
        image: ImageLike | Sequence[ImageLike],
        prompt: str,
        *,
        endpoint_id: str | None = None,
        adapter_route: str | None = None,
        num_inference_steps: int = 20,
        guidance_scale: float | None = None,
        seed: int | None = None,
        response_format: str = "png",
        image_format: str = "png",
    ) -> dict[str, Any]:
        """Validate every field and return the JSON body; raises FriendliInputError before sending."""
        service = self.settings.service
        if not isinstance(prompt, str) or not prompt.strip():
            raise FriendliInputError("prompt", "is empty; describe the edit you want")
        model = _model(service, endpoint_id, adapter_route)
        if isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, int) \
                or not 1 <= num_inference_steps <= 50:
            raise FriendliInputError("num_inference_steps", f"{num_inference_steps!r} is not a whole number from 1 to 50")
        if guidance_scale is not None and (isinstance(guidance_scale, bool) or not isinstance(guidance_scale, (int, float))
                                           or not math.isfinite(guidance_scale) or guidance_scale < 0):
            raise FriendliInputError("guidance_scale", f"{guidance_scale!r} is not a number ≥ 0 (or None to leave it to the endpoint)")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise FriendliInputError("seed", f"{seed!r} is not a whole number ≥ 0 (or None for a random seed)")
        if response_format not in RESPONSE_FORMATS[service]:
            raise FriendliInputError("response_format", f"{response_format!r} is not one of "
                                     f"{', '.join(RESPONSE_FORMATS[service])} for the {service} service")
        images = list(image) if isinstance(image, (list, tuple)) else [image]
        if not images:
            raise FriendliInputError("image", "no image given")
        inputs = [{"image": _image_payload(img, image_format, f"image[{i}]" if len(images) > 1 else "image")}
                  for i, img in enumerate(images)]
        body: dict[str, Any] = {
            "image": inputs if isinstance(image, (list, tuple)) else inputs[0],
            "prompt": prompt,
            "model": model,
            "num_inference_steps": num_inference_steps,
            "guidance_scale": guidance_scale,
            "seed": seed,
            "response_format": response_format,
        }
        if service == CONTAINER:  # the container takes no nulls; its defaults apply instead
            body = {k: v for k, v in body.items() if v is not None}
        return body

    def edit(self, image: ImageLike | Sequence[ImageLike], prompt: str, *,
             cancel: Callable[[], bool] | None = None, **params: Any) -> list[EditedImage]:
        """Send one edit request (a list ``image`` is one multi-image request); return its images.

        ``params`` are those of ``build_body``. ``cancel`` is polled every 0.1 s, so a
        caller can abandon the request at once (FriendliCancelledError).
        """
        body = self.build_body(image, prompt, **params)
        return self.send(body, cancel=cancel)

    def send(self, body: dict[str, Any], *, cancel: Callable[[], bool] | None = None) -> list[EditedImage]:
        """POST a body made by ``build_body`` and fetch its results, within the deadline."""
        headers = self._headers()
        payload = json.dumps(body).encode("utf-8")
        fmt = body.get("response_format") or "jpeg"
        return run_jobs([lambda: self._post(payload, headers, fmt)], workers=1, cancel=cancel,
                        deadline=self.deadline)[0]

    def _headers(self) -> dict[str, str]:
        s = self.settings
        headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": USER_AGENT}
        if s.service == DEDICATED:
            if not s.token:
                raise FriendliConfigError(MISSING_TOKEN_HELP)
            if not s.token.isprintable() or any(c.isspace() for c in s.token) or not s.token.isascii():
                raise FriendliConfigError(f"the API key from the {s.token_source} contains spaces, line breaks or "
                                          "non-ASCII characters; copy it again from Friendli Suite")
            headers["Authorization"] = f"Bearer {s.token}"
        if s.team:
            headers["X-Friendli-Team"] = s.team
        return headers

    def _post(self, payload: bytes, headers: dict[str, str], fmt: str) -> list[EditedImage]:
        url = self.settings.edit_url
        try:
            response = self._session.post(url, data=payload, headers=headers, timeout=self.timeout,
                                          allow_redirects=False)
        except requests.RequestException as exc:
            raise error_for_exception(exc, host_of(url), self.timeout[1]) from None
        if response.status_code != 200:
            raise error_for_status(response.status_code, response.content, self.settings.base_url)
        answer = parse_json(response.content)
        if self.settings.service == CONTAINER:
            return [self._container_result(answer, fmt)]
        return [self._dedicated_result(item) for item in _data_items(answer)]

    def _container_result(self, answer: Any, fmt: str) -> EditedImage:
        if not isinstance(answer, dict) or "image" not in answer:
            raise FriendliResponseError("the container's answer has no \"image\" field; is the base URL a Friendli Container?")
        data = codec.decode_b64(answer["image"])
        return EditedImage(data, _mime(data), None, fmt)

    def _dedicated_result(self, item: dict[str, Any]) -> EditedImage:
        seed = item.get("seed") if isinstance(item.get("seed"), int) else None
        fmt = str(item.get("response_format") or "")
        if "b64_json" in item:
            data = codec.decode_b64(item["b64_json"])
        elif "url" in item:
            data = self._download(item["url"])
        else:
            raise FriendliResponseError("an item of the answer's \"data\" has neither \"b64_json\" nor \"url\"")
        return EditedImage(data, _mime(data), seed, fmt)

    def _download(self, url: Any) -> bytes:
        """Fetch a ``url`` result: http(s) only, no Authorization header, size-capped, with a timeout."""
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise FriendliResponseError(f"the endpoint returned a result URL that is not http(s): {str(url)[:80]!r}")
        host = host_of(url)
        headers = {"User-Agent": USER_AGENT}
        try:
            with self._download_session.get(url, headers=headers, timeout=(self.timeout[0], 120),
                                             stream=True) as response:
                if response.status_code != 200:
                    raise FriendliResponseError(
                        f"downloading the result from {host} failed with HTTP {response.status_code}; "
                        "result URLs can expire, run the node again")
                chunks, size = [], 0
                for chunk in response.iter_content(1 << 20):
                    size += len(chunk)
                    if size > MAX_DOWNLOAD_BYTES:
                        raise FriendliResponseError(f"the result at {host} is larger than "
                                                    f"{MAX_DOWNLOAD_BYTES >> 20} MiB; refusing to download it")
                    chunks.append(chunk)
        except requests.RequestException as exc:
            raise error_for_exception(exc, host, 120) from None
        return b"".join(chunks)


def _model(service: str, endpoint_id: str | None, adapter_route: str | None) -> str | None:
    endpoint_id = (endpoint_id or "").strip()
    adapter_route = (adapter_route or "").strip()
    for name, value in (("endpoint_id", endpoint_id), ("adapter_route", adapter_route)):
        if any(c.isspace() for c in value) or ":" in value:
            raise FriendliInputError(name, f"{value!r} must not contain spaces or ':'")
    if service == CONTAINER:
        return adapter_route or None
    if not endpoint_id:
        raise FriendliInputError("endpoint_id", "is empty; copy the endpoint id from Friendli Suite > Endpoints")
    return f"{endpoint_id}:{adapter_route}" if adapter_route else endpoint_id


def _image_payload(image: ImageLike, image_format: str, field: str) -> str:
    if isinstance(image, str):
        if image.startswith(("http://", "https://")):
            return image
        if image.startswith("data:"):
            return codec.data_uri(codec.decode_b64(image), field)
        raise FriendliInputError(field, "a string image must be an http(s) URL or a data URI")
    if isinstance(image, (bytes, bytearray)):
        data = bytes(image)
        if codec.sniff_mime(data) in ("image/png", "image/jpeg"):
            return codec.data_uri(data, field)
        try:
            with Image.open(io.BytesIO(data)) as pil:
                pil.load()
                return codec.data_uri(codec.encode_image(pil, image_format, field), field)
        except (OSError, SyntaxError):
            raise FriendliInputError(field, "bytes are not an image Pillow can read") from None
    return codec.data_uri(codec.encode_image(image, image_format, field), field)


def _data_items(answer: Any) -> list[dict[str, Any]]:
    if not isinstance(answer, dict) or "data" not in answer:
        raise FriendliResponseError("the endpoint's answer has no \"data\" field; is the base URL the Friendli API?")
    items = answer["data"]
    if not isinstance(items, list) or not items:
        raise FriendliResponseError("the endpoint answered with no images (empty \"data\")")
    if not all(isinstance(i, dict) for i in items):
        raise FriendliResponseError("the endpoint's \"data\" holds something other than image objects")
    return items


def _mime(data: bytes) -> str:
    mime = codec.sniff_mime(data)
    if mime is None:
        codec.decode_image(data)  # raises the explanatory error
    return mime or "application/octet-stream"
