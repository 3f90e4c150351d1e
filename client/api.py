"""The public Python API: ``FriendliImageClient(...).edit(image, prompt, endpoint_id=...)``."""

from __future__ import annotations

import io
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Union
from urllib.parse import urljoin, urlsplit

import numpy as np
import requests
from PIL import Image

from . import codec
from .config import (CONTAINER, DEDICATED, MISSING_TOKEN_HELP, check_key_destination, host_port, is_public_ip,
                     key_allowed, resolve_settings)
from .errors import (FriendliAuthError, FriendliConfigError, FriendliEndpointStateError,
                     FriendliEndpointWakingError, FriendliError, FriendliInputError,
                     FriendliRateLimitError, FriendliResponseError, FriendliTimeoutError)
from .bulk import BulkRun, edit_items, generate_items
from .lifecycle import Lifecycle
from .request import GENERATE, RESPONSE_FORMATS, EditRequest, ImageRequest
from .runner import run_jobs
from .scheduler import DEFAULT_MEMORY_BUDGET, EndpointLimiter, Lease, limiter_for, memory_budget
from .store import ResultStore, StoredResult, credential_fingerprint, request_key
from .transport import (ERROR_BODY_MAX, CancelScope, download_session, error_for_exception, error_for_status,
                        host_of, make_session, parse_json, proxies_for, read_body)
from .version import __version__

ImageLike = Union[np.ndarray, Image.Image, bytes, str]
USER_AGENT = f"comfyui-friendli/{__version__} python-requests/{requests.__version__}"
MAX_DOWNLOAD_BYTES = 100 * 1024 * 1024
MAX_ANSWER_BYTES = 256 * 1024 * 1024  # decompressed; room for a few 50 MiB images as base64
MAX_REDIRECTS = 5
JSON_WEIGHT = 3  # a JSON answer is held about 3 times over while parsed (bytes, text, decoded base64)
__all__ = ["EditRequest", "EditedImage", "FriendliImageClient", "ImageLike", "ImageRequest", "RESPONSE_FORMATS"]


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
    """Edit or generate images with a Friendli Dedicated Endpoint or a Friendli Container.

    Token, base URL and team resolve as described in ``config``. The token goes only to the base
    URL, never to ``url`` result hosts, and never into a repr or a message. ``trusted_hosts``:
    None when the caller named the base URL itself (Python, command line); a list (Settings >
    Friendli) when the base URL comes from a workflow, which may then only name a trusted host.
    ``on_event`` receives retry notices (dicts with ``type == "retry"``), from any thread.
    """

    def __init__(
        self,
        *,
        service: str = DEDICATED,
        token: str | None = None,
        base_url: str | None = None,
        team: str | None = None,
        credentials_path: Path | None = None,
        trusted_hosts: Iterable[str] | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 600.0,
        download_timeout: float = 120.0,
        deadline: float = 1800.0,
        max_in_flight: int = 8,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        store: ResultStore | None = None,
        status_poll: float = 3.0,
        max_retries: int = 5,
        backoff_factor: float = 0.5,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.settings = resolve_settings(service, token=token, base_url=base_url, team=team,
                                         credentials_path=credentials_path)
        self.trusted_hosts = None if trusted_hosts is None else tuple(trusted_hosts)
        self.timeout = (connect_timeout, read_timeout)
        self.download_timeout = download_timeout
        self.deadline = deadline
        self.max_in_flight = max_in_flight
        self.memory_budget = memory_budget
        self.describe_endpoint = False  # also ask the endpoint's spec before the first edit (GPU count)
        self.store = store
        self.status_poll = status_poll
        self.on_event = on_event
        self._thread_listener = threading.local()  # see observe()
        self._running: set[str] = set()  # endpoints seen running (the state is checked once per client)
        self._running_lock = threading.Lock()
        self._session = make_session(max_retries, backoff_factor)
        self._download_session = download_session()  # no auth, ever
        self._status_session = download_session()  # no retries: the endpoint's state is advisory

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
        self._status_session.close()

    @contextmanager
    def observe(self, listener: Callable[[dict[str, Any]], None]) -> Iterator[None]:
        """Inside the block, also hand ``listener`` the events of the requests this thread makes (a bulk
        run's per-item endpoint time), besides ``on_event``."""
        previous = getattr(self._thread_listener, "fn", None)
        self._thread_listener.fn = listener
        try:
            yield
        finally:
            self._thread_listener.fn = previous

    def _emit(self, event: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(event)
        listener = getattr(self._thread_listener, "fn", None)
        if listener is not None:
            listener(event)

    # -- requests -------------------------------------------------------------------------

    def check_ready(self, request: ImageRequest | None = None) -> None:
        """Everything that can fail before sending: the key and where it may go, and ``request``."""
        self._headers()
        if request is not None:
            request.validate(self.settings.service)

    def body(self, request: ImageRequest, image: ImageLike | Sequence[ImageLike] | None) -> dict[str, Any]:
        """The JSON body for ``request`` with ``image`` encoded: an edit's image (a list = one multi-image
        request), or a generation's control images (a list, or None for none)."""
        request.validate(self.settings.service)
        generate = request.kind == GENERATE
        images = list(image) if isinstance(image, (list, tuple)) else [] if image is None else [image]
        if not images and not generate:
            raise FriendliInputError("image", "no image given")
        field = "control_images" if generate else "image"
        payloads = [_image_payload(img, request.image_format, f"{field}[{i}]" if len(images) > 1 else field)
                    for i, img in enumerate(images)]
        many = generate or isinstance(image, (list, tuple))
        return request.body(self.settings.service, payloads if many else payloads[0])

    def build_body(self, image: ImageLike | Sequence[ImageLike], prompt: str, **params: Any) -> dict[str, Any]:
        """``body(ImageRequest(prompt, **params), image)``; raises FriendliInputError before sending."""
        return self.body(_request(prompt, params), image)

    def edit(self, image: ImageLike | Sequence[ImageLike], prompt: str, *,
             cancel: Callable[[], bool] | None = None, **params: Any) -> list[EditedImage]:
        """Send one edit request (a list ``image`` is one multi-image request); return its images.

        ``params`` are the fields of ``ImageRequest``. ``cancel`` is polled every 0.1 s: when it
        returns True the request stops at once (FriendliCancelledError), its connection closed.
        """
        return self._run(_request(prompt, params), image, cancel)

    def generate(self, prompt: str, *, control_images: Sequence[ImageLike] | None = None,
                 controlnet_weights: Sequence[float] | None = None, cancel: Callable[[], bool] | None = None,
                 **params: Any) -> list[EditedImage]:
        """Send one generation request (``POST …/images/generations``); return its images.

        ``control_images`` condition the generation (ControlNet), one weight each in ``controlnet_weights``
        (0..1; None = all 1.0). ``params`` and ``cancel`` as for ``edit``.
        """
        if control_images is not None and not isinstance(control_images, (list, tuple)):
            raise FriendliInputError("control_images", "must be a list of images (e.g. [image]), even for one")
        weights = None if controlnet_weights is None else tuple(controlnet_weights)
        request = _request(prompt, params | {"kind": GENERATE, "controlnet_weights": weights})
        return self._run(request, list(control_images or []), cancel)

    def edit_many(self, items: Iterable[Any], prompt: str, *, concurrency: int = 4, max_failures: int | None = None,
                  cancel: Callable[[], bool] | None = None, **params: Any) -> BulkRun:
        """Edit each item, ``concurrency`` at a time, in memory that does not grow with the count; an
        iterator of ``BulkResult`` (key, images, seed, error, endpoint_seconds) as each completes.

        ``items`` is consumed lazily: each is a ``bulk.Item``, a ``(key, image)`` pair, or an image (its key
        is its position); an image may be a function returning one, called when its turn comes. Item *i*
        gets ``seed + i`` (``params`` as for ``edit``). A failed item is a result with ``error`` and the
        others go on; see ``BulkRun`` for ``max_failures``, ``cancel`` and stopping early.
        """
        return BulkRun(self, _request(prompt, params), edit_items(items), concurrency=concurrency,
                       max_failures=max_failures, cancel=cancel)

    def generate_many(self, prompt: str, count: int | None = None, *, items: Iterable[Any] | None = None,
                      control_images: Sequence[ImageLike] | None = None,
                      controlnet_weights: Sequence[float] | None = None, concurrency: int = 4,
                      max_failures: int | None = None, cancel: Callable[[], bool] | None = None,
                      **params: Any) -> BulkRun:
        """``count`` generations (keys 0 … count − 1, seeds ``seed + i``), or one per key of ``items``
        (a key or a ``bulk.Item``, whose ``image`` replaces ``control_images``), as ``edit_many`` runs them."""
        if (count is None) == (items is None):
            raise FriendliInputError("count", "give either count or items")
        if control_images is not None and not isinstance(control_images, (list, tuple)):
            raise FriendliInputError("control_images", "must be a list of images (e.g. [image]), even for one")
        weights = None if controlnet_weights is None else tuple(controlnet_weights)
        request = _request(prompt, params | {"kind": GENERATE, "controlnet_weights": weights})
        return BulkRun(self, request, generate_items(range(count) if items is None else items),  # type: ignore[arg-type]
                       default_image=list(control_images or []), concurrency=concurrency,
                       max_failures=max_failures, cancel=cancel)

    def _run(self, request: ImageRequest, image: Any, cancel: Callable[[], bool] | None) -> list[EditedImage]:
        self.check_ready(request)
        body = self.body(request, image)
        scope = CancelScope(self.deadline)
        return run_jobs([lambda: self.send(body, scope)], workers=1, cancel=cancel, scope=scope)[0]

    def send(self, body: dict[str, Any], scope: CancelScope | None = None,
             cpu: Callable[..., Any] | None = None, on_answered: Callable[[], None] | None = None) -> list[EditedImage]:
        """POST a body made by ``body`` (an edit's has "image"; a generation's has not) to its route and
        fetch its results, decoded, blocking; ``scope`` stops it (by
        default a new one with the client's deadline); ``cpu(fn, *args)`` runs the decoding (default:
        on this thread); ``on_answered()`` runs once the endpoint's answer is in, before decoding. A
        stored answer is used when it still decodes; a new one is stored only once it decoded."""
        scope = scope or CancelScope(self.deadline)
        cpu = cpu or _call
        headers = self._headers()
        key = self._store_key(body, headers)
        if key is not None:
            stored = self.store.get(key)
            if stored:
                results = [EditedImage(r.data, r.mime, r.seed, r.response_format) for r in stored]
                try:
                    cpu(_decode_all, results)
                    self._emit({"type": "reused"})
                    return results
                except FriendliResponseError:
                    self.store.discard(key)  # not an image after all: ask the endpoint again
        with memory_budget(self.memory_budget).lease(MAX_ANSWER_BYTES) as lease:
            results = self._fetch(body, headers, scope, lease)
            if on_answered is not None:
                on_answered()
            cpu(_decode_all, results)
            if key is not None:
                self.store.put(key, [StoredResult(r.data, r.mime, r.seed, r.response_format) for r in results])
        return results

    def _store_key(self, body: dict[str, Any], headers: dict[str, str]) -> str | None:
        """The result store key of ``body`` for this key and team (another credential never reads it)."""
        if self.store is None:
            return None
        return request_key(self.settings.service, self._api_host + _path(self._url_for(body)), body,
                           credential_fingerprint(self.settings.token, headers.get("X-Friendli-Team")))

    def _url_for(self, body: dict[str, Any]) -> str:
        return self.settings.edit_url if "image" in body else self.settings.generate_url

    def _fetch(self, body: dict[str, Any], headers: dict[str, str], scope: CancelScope,
               lease: Lease) -> list[EditedImage]:
        """Send the request to the endpoint (within its shared in-flight limit) and fetch the results."""
        payload = codec.json_bytes(body)  # the JSON of json.dumps, without scanning the base64 in it
        if self.settings.service == DEDICATED:
            self._wait_until_running(str(body.get("model") or "").partition(":")[0], headers, scope)
        limiter = limiter_for(self.settings.base_url, str(body.get("model") or ""), self.max_in_flight)
        admission = limiter.acquire(scope.closed, scope.remaining())
        outcome = "other"
        started = time.monotonic()
        try:
            answer = self._post(self._url_for(body), payload, headers, scope,
                                lambda status: self._throttle(limiter, status, admission), lease)
            outcome = "ok"
            self._emit({"type": "answered", "start": started, "end": time.monotonic()})
        except FriendliRateLimitError:
            outcome = "throttled"
            raise
        finally:
            was_throttled = limiter.throttled
            limiter.release(outcome, admission)
            if was_throttled or limiter.throttled:
                self._emit({"type": "throttled", "limit": limiter.limit if limiter.throttled else None})
        fmt = body.get("response_format") or "jpeg"
        if self.settings.service == CONTAINER:
            return [self._container_result(answer, fmt)]
        return [self._dedicated_result(item, scope, lease) for item in _data_items(answer)]

    def _headers(self) -> dict[str, str]:
        s = self.settings
        headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": USER_AGENT}
        if s.service == DEDICATED:
            if not s.token:
                raise FriendliConfigError(MISSING_TOKEN_HELP)
            if not s.token.isprintable() or any(c.isspace() for c in s.token) or not s.token.isascii():
                raise FriendliConfigError(f"the API key from the {s.token_source} contains spaces, line breaks or "
                                          "non-ASCII characters; copy it again from Friendli Suite")
            check_key_destination(s.base_url, self._named_hosts)
            headers["Authorization"] = f"Bearer {s.token}"
            if s.team:
                headers["X-Friendli-Team"] = s.team
        elif s.team and (s.team_source == "argument" or key_allowed(s.base_url, self._named_hosts)):
            headers["X-Friendli-Team"] = s.team  # a stored team only to a host that may have the key
        return headers

    @property
    def _named_hosts(self) -> tuple[str, ...] | list[str]:
        """Hosts the user named outside any workflow (Settings), or the base URL the caller passed."""
        return self.trusted_hosts if self.trusted_hosts is not None else [_netloc(self.settings.base_url)]

    @property
    def _secrets(self) -> tuple[str, ...]:
        return (self.settings.token,) if self.settings.token else ()

    def lifecycle(self, headers: dict[str, str] | None = None) -> Lifecycle:
        """The endpoint lifecycle routes (status, wake, sleep) with this client's key, team and base URL."""
        return Lifecycle(self._status_session, self.settings.base_url, headers or self._headers(), self.timeout)

    def _wait_until_running(self, endpoint_id: str, headers: dict[str, str], scope: CancelScope) -> None:
        """Before the first edit to an endpoint: ask its state, wake it if it sleeps, wait while it starts.
        Only advisory: a server without the status route, a silent or failing one (within the status
        timeout), or any error but a clear answer about the endpoint, lets the edit go ahead."""
        with self._running_lock:
            if endpoint_id in self._running:
                return
            lifecycle = self.lifecycle(headers)
            with scope.active(self._emit, secrets=self._secrets):
                try:
                    lifecycle.wait_until_ready(endpoint_id, stop=scope.closed, deadline=scope.deadline,
                                               on_event=self._emit, poll=self.status_poll)
                except (FriendliEndpointStateError, FriendliAuthError):
                    raise
                except FriendliError:
                    scope.check_new()  # a stop, the deadline or a drain is why: say that
                    self._emit({"type": "advisory", "text": "status unknown · sending anyway"})
                if self.describe_endpoint:  # GPUs for the cost estimate; as advisory as the state
                    try:
                        info = lifecycle.info(endpoint_id)
                    except FriendliError:
                        info = None
                    if info and info["num_gpu"]:
                        self._emit({"type": "endpoint_info", "num_gpu": info["num_gpu"]})
            self._running.add(endpoint_id)

    def _throttle(self, limiter: EndpointLimiter, status: int, admission: int) -> None:
        """A 429 on the way (before the retry): the endpoint's shared in-flight limit goes down."""
        if status == 429:
            limiter.throttle(admission)
            self._emit({"type": "throttled", "limit": limiter.limit})

    def _post(self, url: str, payload: bytes, headers: dict[str, str], scope: CancelScope,
              on_status: Callable[[int], None] | None = None, lease: Lease | None = None) -> Any:
        scope.check_new()
        with scope.active(self._emit, on_status, secrets=self._secrets, timed=True) as ctx:
            try:
                response = self._session.post(url, data=payload, headers=headers, timeout=self.timeout,
                                              allow_redirects=False, stream=True, proxies=proxies_for(url))
                if response.status_code != 200:
                    body = read_body(response, ERROR_BODY_MAX, truncate=True)
                    raise error_for_status(response.status_code, body, self.settings.base_url, self._secrets)
                return parse_json(read_body(response, MAX_ANSWER_BYTES, what="the endpoint's answer", lease=lease,
                                            weight=JSON_WEIGHT))
            except FriendliTimeoutError as exc:
                if ctx.waking:
                    raise FriendliEndpointWakingError(
                        f"the endpoint was still waking up when the run's deadline passed ({exc}). Waking takes "
                        "minutes: queue the prompt again shortly, or set the endpoint's minimum replicas above 0",
                        status=503) from None
                raise
            except FriendliError:
                raise
            except Exception as exc:  # noqa: BLE001 - requests, urllib3 and socket errors alike
                scope.check()  # a stopped scope is why the connection broke
                raise error_for_exception(exc, host_of(url), self.timeout[1]) from None

    def _container_result(self, answer: Any, fmt: str) -> EditedImage:
        if not isinstance(answer, dict) or "image" not in answer:
            raise FriendliResponseError("the container's answer has no \"image\" field; is the base URL a Friendli Container?")
        data = codec.decode_b64(answer["image"])
        return EditedImage(data, _mime(data), None, fmt)

    def _dedicated_result(self, item: dict[str, Any], scope: CancelScope | None = None,
                          lease: Lease | None = None) -> EditedImage:
        seed = item.get("seed")
        seed = seed if isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < 2**64 else None
        fmt = item.get("response_format")
        fmt = fmt if isinstance(fmt, str) and len(fmt) <= 16 else ""
        if "b64_json" in item:
            data = codec.decode_b64(item["b64_json"])
        elif "url" in item:
            data = self._download(item["url"], scope or CancelScope(self.deadline), lease)
        else:
            raise FriendliResponseError("an item of the answer's \"data\" has neither \"b64_json\" nor \"url\"")
        return EditedImage(data, _mime(data), seed, fmt)

    def _download(self, url: Any, scope: CancelScope, lease: Lease | None = None) -> bytes:
        """Fetch a ``url`` result: http(s) only, no Authorization header, not to a local or private
        address unless the base URL is one, redirects checked hop by hop, size- and time-capped."""
        deadline = time.monotonic() + self.download_timeout
        for _ in range(MAX_REDIRECTS + 1):
            host = self._check_result_url(url)
            remaining = max(deadline - time.monotonic(), 0.1)
            with scope.active(public_only=not self._base_is_local):
                try:
                    response = self._download_session.get(
                        url, headers={"User-Agent": USER_AGENT}, stream=True, allow_redirects=False,
                        proxies=proxies_for(url),
                        timeout=(min(self.timeout[0], remaining), min(self.timeout[1], remaining)))
                    if 300 <= response.status_code < 400:
                        location = response.headers.get("Location", "").strip()
                        response.close()
                        if not location:
                            raise FriendliResponseError(f"{host} redirected the result download without saying where "
                                                        "to (no Location header); run the node again")
                        try:
                            url = urljoin(url, location)
                        except ValueError:
                            raise FriendliResponseError(f"{host} redirected the result download to an invalid "
                                                        f"address ({location[:80]!r}); run the node again") from None
                        continue
                    if response.status_code != 200:
                        response.close()
                        raise FriendliResponseError(
                            f"downloading the result from {host} failed with HTTP {response.status_code}; "
                            "result URLs can expire, run the node again")
                    return read_body(response, MAX_DOWNLOAD_BYTES, deadline=deadline,
                                     what=f"the result at {host}", lease=lease)
                except FriendliError:
                    raise
                except Exception as exc:  # noqa: BLE001
                    scope.check()
                    raise error_for_exception(exc, host, self.download_timeout) from None
        raise FriendliResponseError("the result URL redirected more than 5 times; run the node again")

    def _check_result_url(self, url: Any) -> str:
        """The host of a result URL after checking it may be fetched (see ``_download``)."""
        if not isinstance(url, str):
            raise FriendliResponseError(f"the endpoint returned a result URL that is not http(s): {str(url)[:80]!r}")
        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port
        except ValueError:
            parts = host = None
        if parts is not None and parts.scheme not in ("http", "https"):
            raise FriendliResponseError(f"the endpoint returned a result URL that is not http(s): {url[:80]!r}")
        if not host:
            raise FriendliResponseError(f"the endpoint returned an invalid result URL: {url[:80]!r}")
        if not self._base_is_local and _is_local(host, port or 443):
            raise FriendliResponseError(
                f"the endpoint returned a result URL on {host}, a local or private address; refusing to fetch it "
                "(only a base URL on such an address may do that)")
        return host_of(url)

    @cached_property
    def _api_host(self) -> str:
        """scheme://host:port of the base URL (part of a result store key)."""
        name, port = host_port(self.settings.base_url)
        return f"{urlsplit(self.settings.base_url).scheme}://{name}:{port}"

    @cached_property
    def _base_is_local(self) -> bool:
        parts = urlsplit(self.settings.base_url)
        return _is_local(parts.hostname or "", parts.port or 443)


def _request(prompt: str, params: dict[str, Any]) -> ImageRequest:
    try:
        return ImageRequest(prompt, **params)
    except TypeError as exc:
        raise FriendliInputError("params", str(exc)) from None


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


def _decode_all(results: list[EditedImage]) -> None:
    """Decode every result (FriendliResponseError for one that is not an image); the pixels are cached."""
    for result in results:
        result.image  # noqa: B018 - the cached property decodes


def _path(url: str) -> str:
    return urlsplit(url).path


def _netloc(url: str) -> str:
    return urlsplit(url).netloc.lower()


def _is_local(host: str, port: int) -> bool:
    """True when ``host`` is or resolves to a loopback, private, link-local or other non-public address."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        addresses = [host]
    except ValueError:
        try:
            addresses = [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
        except (OSError, UnicodeError):
            return False  # the request itself will fail and explain
    return not all(is_public_ip(a) for a in addresses)


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
        except (OSError, SyntaxError, Image.DecompressionBombError):
            raise FriendliInputError(field, "bytes are not an image Pillow can read") from None
    return codec.data_uri(codec.encode_image(image, image_format, field), field)


def _data_items(answer: Any) -> list[dict[str, Any]]:
    if not isinstance(answer, dict) or "data" not in answer:
        raise FriendliResponseError("the endpoint's answer has no \"data\" field; is the base URL the Friendli API?")
    items = answer["data"]
    if not isinstance(items, list):
        raise FriendliResponseError(f"the endpoint's \"data\" is a {type(items).__name__}, not a list of images")
    if not items:
        raise FriendliResponseError("the endpoint answered with no images (empty \"data\")")
    if len(items) > 64 or not all(isinstance(i, dict) for i in items):
        raise FriendliResponseError("the endpoint's \"data\" holds something other than a few image objects")
    return items


def _mime(data: bytes) -> str:
    mime = codec.sniff_mime(data)
    if mime is None:
        codec.decode_image(data)  # raises the explanatory error
    return mime or "application/octet-stream"
