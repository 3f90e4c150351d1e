"""FriendliImageClient against the emulator over real loopback HTTP."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import yaml
from jsonschema import Draft202012Validator

from helpers import TOKEN, error_of, photo, png_bytes

CONTRACT = Path(__file__).with_name("contract") / "friendli-image-edits.openapi.yaml"


@pytest.fixture
def make_client(client_pkg, emulator):
    made = []

    def make(**kw):
        kw.setdefault("token", TOKEN)
        kw.setdefault("base_url", emulator.base_url)
        kw.setdefault("backoff_factor", 0.01)
        client = client_pkg.FriendliImageClient(**kw)
        made.append(client)
        return client

    yield make
    for c in made:
        c.close()


@pytest.fixture(scope="module")
def body_validator():
    doc = yaml.safe_load(CONTRACT.read_text())
    schema = {"$ref": "#/components/schemas/DedicatedImageEditBody", "components": doc["components"]}
    return Draft202012Validator(schema), set(doc["components"]["schemas"]["DedicatedImageEditBody"]["properties"])


def test_every_field_reaches_the_endpoint_and_matches_the_contract(make_client, emulator, body_validator):
    validator, known = body_validator
    client = make_client(team="team-7")
    results = client.edit(photo(), "make it blue", endpoint_id="test-endpoint", adapter_route="style",
                          num_inference_steps=7, guidance_scale=3.5, seed=42, response_format="png")
    sent = emulator.requests[-1]
    body = sent.body
    assert body["model"] == "test-endpoint:style"
    assert (body["prompt"], body["num_inference_steps"], body["guidance_scale"], body["seed"]) == ("make it blue", 7, 3.5, 42)
    assert body["response_format"] == "png" and body["image"]["image"].startswith("data:image/png;base64,")
    assert sent.header("Authorization") == f"Bearer {TOKEN}"
    assert sent.header("X-Friendli-Team") == "team-7"
    assert sent.header("User-Agent").startswith("comfyui-friendli/")
    validator.validate(body)
    assert set(body) <= known
    assert len(results) == 1 and results[0].seed == 42 and results[0].image.shape == (64, 96, 3)


def test_list_form_and_null_defaults_validate(make_client, emulator, body_validator):
    validator, known = body_validator
    client = make_client()
    client.edit([photo(), photo(40, 30, seed=1)], "merge", endpoint_id="test-endpoint")
    body = emulator.requests[-1].body
    assert isinstance(body["image"], list) and len(body["image"]) == 2
    assert body["guidance_scale"] is None and body["seed"] is None and body["model"] == "test-endpoint"
    validator.validate(body)
    assert set(body) <= known


@pytest.mark.parametrize("fmt,mime", [("png", "image/png"), ("jpeg", "image/jpeg"), ("jpg", "image/jpeg"),
                                      ("raw", None), ("url", "image/png")])
def test_every_response_format_decodes(make_client, emulator, fmt, mime):
    result, = make_client().edit(photo(), "x", endpoint_id="test-endpoint", response_format=fmt, seed=5)
    assert result.response_format == fmt and result.seed == 5
    if mime:
        assert result.mime == mime
    assert result.image.shape == (64, 96, 3) and result.image.dtype == np.uint8


def test_url_result_is_downloaded_without_the_token(make_client, emulator):
    make_client().edit(photo(), "x", endpoint_id="test-endpoint", response_format="url")
    assert len(emulator.file_requests) == 1
    headers = {k.lower(): v for k, v in emulator.file_requests[0].headers.items()}
    assert "authorization" not in headers
    assert all(TOKEN not in v for v in headers.values())


@pytest.mark.parametrize("fmt", ["jpeg", "raw"])
def test_container_service(make_client, emulator, fmt):
    client = make_client(service="container", token=None)
    result, = client.edit(photo(), "x", adapter_route="lora1", response_format=fmt, seed=3)
    sent = emulator.requests[-1]
    assert sent.path == "/v1/images/edits"
    assert sent.header("Authorization") is None
    assert sent.body["model"] == "lora1" and "guidance_scale" not in sent.body
    assert result.seed is None and result.image.shape == (64, 96, 3)


def test_container_rejects_unsupported_format_before_sending(make_client, client_pkg, emulator):
    with pytest.raises(client_pkg.FriendliInputError, match="response_format.*jpeg, raw"):
        make_client(service="container").edit(photo(), "x", response_format="png")
    assert emulator.requests == []


@pytest.mark.parametrize("kwargs,field", [
    (dict(prompt="  "), "prompt"),
    (dict(endpoint_id=""), "endpoint_id"),
    (dict(endpoint_id="a b"), "endpoint_id"),
    (dict(adapter_route="x:y"), "adapter_route"),
    (dict(num_inference_steps=0), "num_inference_steps"),
    (dict(num_inference_steps=51), "num_inference_steps"),
    (dict(num_inference_steps=True), "num_inference_steps"),
    (dict(guidance_scale=float("nan")), "guidance_scale"),
    (dict(seed=-1), "seed"),
    (dict(response_format="gif"), "response_format"),
    (dict(image=np.zeros((8, 8, 3), np.float32)), "image"),
    (dict(image=np.zeros((8, 8, 2), np.uint8)), "image"),
    (dict(image=[]), "image"),
    (dict(image=b"not an image"), "image"),
    (dict(image="ftp://example.com/a.png"), "image"),
    (dict(image=photo(channels=4), image_format="jpeg"), "image"),
])
def test_bad_input_is_rejected_before_sending(make_client, client_pkg, emulator, kwargs, field):
    args = {"image": photo(), "prompt": "edit", "endpoint_id": "test-endpoint", **kwargs}
    with pytest.raises(client_pkg.FriendliInputError) as info:
        make_client().edit(args.pop("image"), args.pop("prompt"), **args)
    assert info.value.field == field and str(info.value).startswith(field)
    assert emulator.requests == []


def test_oversized_image_is_rejected_before_sending(make_client, client_pkg, emulator):
    noise = np.random.default_rng(0).integers(0, 256, (3800, 3800, 4), dtype=np.uint8)  # PNG > 50 MiB
    with pytest.raises(client_pkg.FriendliInputError, match="50 MiB"):
        make_client().edit(noise, "x", endpoint_id="test-endpoint")
    assert emulator.requests == []


def test_missing_token_says_both_ways_to_set_it(make_client, client_pkg, emulator):
    with pytest.raises(client_pkg.FriendliConfigError) as info:
        make_client(token=None).edit(photo(), "x", endpoint_id="test-endpoint")
    assert "FRIENDLI_TOKEN" in str(info.value) and "Settings > Friendli" in str(info.value)
    assert emulator.requests == []


def test_http_errors_map_to_classes_with_advice(make_client, client_pkg, emulator):
    edit = lambda c, **kw: c.edit(photo(), "x", **{"endpoint_id": "test-endpoint", **kw})  # noqa: E731
    cases = []
    e = error_of(lambda: edit(make_client(token="flp_wrong-token-value")))
    cases.append((e, client_pkg.FriendliAuthError, "FRIENDLI_TOKEN"))
    emulator.fault("status", status=403)
    cases.append((error_of(lambda: edit(make_client())), client_pkg.FriendliAuthError, "team"))
    cases.append((error_of(lambda: edit(make_client(), endpoint_id="nope")), client_pkg.FriendliNotFoundError,
                  "endpoint id"))
    emulator.fault("status", status=422, body={"detail": [{"loc": ["body", "seed"], "msg": "too big", "type": "x"}]})
    e = error_of(lambda: edit(make_client()))
    cases.append((e, client_pkg.FriendliValidationError, "seed: too big"))
    assert e.details[0]["loc"] == ["body", "seed"]
    emulator.fault("status", times=3, status=429)
    cases.append((error_of(lambda: edit(make_client(max_retries=2))), client_pkg.FriendliRateLimitError, "429"))
    emulator.fault("status", times=1, status=500)  # a 500 from the endpoint itself is not resent
    cases.append((error_of(lambda: edit(make_client(max_retries=2))), client_pkg.FriendliServerError, "500"))
    emulator.fault("sleeping", times=1000, retry_after=0)  # waking uses up the deadline, not the retries
    cases.append((error_of(lambda: edit(make_client(max_retries=2, deadline=1.5))),
                  client_pkg.FriendliEndpointWakingError, "waking"))
    assert len(emulator.requests) > 3
    emulator.reset()
    emulator.fault("status", status=418)
    cases.append((error_of(lambda: edit(make_client())), client_pkg.FriendliError, "418"))
    for exc, cls, words in cases:
        assert isinstance(exc, cls), (exc, cls)
        assert words in str(exc), (words, str(exc))
        assert TOKEN not in str(exc) and TOKEN not in repr(exc)


@pytest.mark.parametrize("kind,words", [("garbage", "not JSON"), ("html", "HTML"), ("no_data", '"data"'),
                                        ("empty_data", "no images"), ("bad_base64", "PNG, JPEG or WebP"),
                                        ("url_missing", "HTTP 404")])
def test_malformed_answers_raise_response_errors(make_client, client_pkg, emulator, kind, words):
    emulator.fault(kind, **({"status": 200} if kind == "html" else {}))
    fmt = "url" if kind == "url_missing" else "png"
    exc = error_of(lambda: make_client().edit(photo(), "x", endpoint_id="test-endpoint", response_format=fmt))
    assert isinstance(exc, client_pkg.FriendliResponseError) and words in str(exc), str(exc)


def test_retry_after_is_honoured_and_reported(make_client, emulator):
    events = []
    emulator.fault("status", status=429, retry_after=1)
    client = make_client(on_event=events.append)
    client.edit(photo(), "x", endpoint_id="test-endpoint")
    first, second = emulator.requests
    assert second.time - first.time >= 1.0
    retries = [e for e in events if e["type"] == "retry"]
    assert retries and retries[0]["status"] == 429 and retries[0]["wait"] == 1
    assert any(e["type"] == "throttled" and e["limit"] for e in events)  # the shared in-flight limit went down


def test_waking_endpoint_is_retried_and_reported(make_client, emulator):
    events = []
    emulator.fault("sleeping", times=2, retry_after=0)
    result, = make_client(on_event=events.append).edit(photo(), "x", endpoint_id="test-endpoint")
    assert len(emulator.requests) == 3 and result.image.size
    assert [e["waking"] for e in events if e["type"] == "retry"] == [True, True]


def test_answer_dropped_after_the_request_arrived_is_not_sent_again(make_client, client_pkg, emulator):
    emulator.fault("drop")  # the emulator read the whole request, then closed without answering
    exc = error_of(lambda: make_client().edit(photo(), "x", endpoint_id="test-endpoint"))
    assert isinstance(exc, client_pkg.FriendliNetworkError) and exc.kind == "dropped"
    assert "may have received it and done the work" in str(exc)
    assert len(emulator.requests) == 1


def test_no_retry_on_other_4xx(make_client, client_pkg, emulator):
    emulator.fault("status", status=400)
    with pytest.raises(client_pkg.FriendliError):
        make_client().edit(photo(), "x", endpoint_id="test-endpoint")
    assert len(emulator.requests) == 1


def test_read_timeout_is_not_retried(make_client, client_pkg, emulator):
    emulator.fault("latency", seconds=2)
    exc = error_of(lambda: make_client(read_timeout=0.5).edit(photo(), "x", endpoint_id="test-endpoint"))
    assert isinstance(exc, client_pkg.FriendliTimeoutError) and "read timeout" in str(exc)
    assert len(emulator.requests) == 1


def test_total_deadline(make_client, client_pkg, emulator):
    emulator.fault("status", times=5, status=503, retry_after=30)
    exc = error_of(lambda: make_client(deadline=1.0).edit(photo(), "x", endpoint_id="test-endpoint"))
    assert isinstance(exc, client_pkg.FriendliTimeoutError) and "deadline" in str(exc)
    assert len(emulator.requests) == 1  # the 30 s Retry-After does not fit the deadline: no sleep, no resend


def test_cancellation_stops_the_request(make_client, client_pkg, emulator):
    emulator.latency = 30  # had the client waited for the answer, edit would have returned it, not raised
    flag = threading.Event()
    threading.Timer(0.3, flag.set).start()
    with pytest.raises(client_pkg.FriendliCancelledError):
        make_client().edit(photo(), "x", endpoint_id="test-endpoint", cancel=flag.is_set)
    assert len(emulator.requests) == 1


def test_network_failures_say_which(make_client, client_pkg, emulator, monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    refused = error_of(lambda: make_client(base_url=f"http://127.0.0.1:{closed_port}", max_retries=1)
                       .edit(photo(), "x", endpoint_id="e"))
    dns = error_of(lambda: make_client(base_url="https://no-such-host.invalid", max_retries=0)
                   .edit(photo(), "x", endpoint_id="e"))
    tls = error_of(lambda: make_client(base_url=emulator.base_url.replace("http:", "https:"), max_retries=0)
                   .edit(photo(), "x", endpoint_id="e"))
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{closed_port}")
    monkeypatch.delenv("NO_PROXY")
    proxy = error_of(lambda: make_client(base_url="https://api.friendli.invalid", max_retries=0)
                     .edit(photo(), "x", endpoint_id="e"))
    for exc, kind, words in [(refused, "refused", "server is running"), (dns, "dns", "DNS"),
                             (tls, "tls", "REQUESTS_CA_BUNDLE"), (proxy, "proxy", "HTTPS_PROXY")]:
        assert isinstance(exc, client_pkg.FriendliNetworkError) and exc.kind == kind, (exc, kind)
        assert words in str(exc) and TOKEN not in str(exc)


def test_token_never_in_repr_or_settings_repr(make_client):
    client = make_client()
    assert TOKEN not in repr(client) and TOKEN not in repr(client.settings)
    assert "from argument" in repr(client)


def test_png_input_bytes_are_sent_unchanged(make_client, emulator):
    data = png_bytes(photo())
    make_client().edit(data, "x", endpoint_id="test-endpoint")
    import base64

    sent = emulator.requests[-1].body["image"]["image"]
    assert base64.b64decode(sent.split(",", 1)[1]) == data


def test_no_log_line_carries_the_token(make_client, emulator, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    emulator.fault("status", status=503, retry_after=0)
    emulator.fault("status", status=502, retry_after=0)
    make_client().edit(photo(), "x", endpoint_id="test-endpoint", response_format="url")
    assert caplog.records and len(emulator.requests) == 3
    assert all(TOKEN not in record.getMessage() for record in caplog.records)


def test_url_downloads_are_size_capped(make_client, client_pkg, emulator, monkeypatch):
    import importlib

    api = importlib.import_module(client_pkg.__name__ + ".api")
    monkeypatch.setattr(api, "MAX_DOWNLOAD_BYTES", 1000)
    exc = error_of(lambda: make_client().edit(photo(), "x", endpoint_id="test-endpoint", response_format="url"))
    assert isinstance(exc, client_pkg.FriendliResponseError) and "larger than" in str(exc)


def test_result_urls_must_be_http(make_client, client_pkg):
    client = make_client()
    for url in ("file:///etc/passwd", "ftp://example.com/a.png", None):
        with pytest.raises(client_pkg.FriendliResponseError, match="not http"):
            client._dedicated_result({"url": url, "seed": 1, "response_format": "url"})
    for url in ("http://[::1/x.png", "http://host:99999/x.png", "https:///x.png"):  # a clear error, no ValueError
        with pytest.raises(client_pkg.FriendliResponseError, match="invalid result URL"):
            client._dedicated_result({"url": url, "seed": 1, "response_format": "url"})
