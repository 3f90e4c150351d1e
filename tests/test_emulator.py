"""The emulator over real loopback HTTP: both services, validation, faults, file server, lifecycle."""

from __future__ import annotations

import base64
import importlib
import io
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import requests
from PIL import Image

from helpers import TOKEN
from packloader import child_code, load_pack

emu_mod = importlib.import_module(load_pack().__name__ + ".emulator.server")
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "jpeg": b"\xff\xd8\xff", "jpg": b"\xff\xd8\xff", "raw": b"RIFF"}


def encode(arr: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt)
    return buf.getvalue()


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def sample(w: int = 24, h: int = 16, value: int = 0) -> np.ndarray:
    rng = np.random.default_rng(value)
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


PNG = encode(sample())


def body(**overrides):
    base = {"image": {"image": data_uri(PNG)}, "prompt": "make it red", "model": "test-endpoint",
            "seed": 7, "response_format": "png"}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def decode(text: str) -> Image.Image:
    img = Image.open(io.BytesIO(base64.b64decode(text)))
    img.load()
    return img


@pytest.fixture
def emu(emulator):
    return emulator


def edit(emu, payload=None, headers=AUTH, **kw):
    return requests.post(f"{emu.base_url}/dedicated/v1/images/edits",
                         json=body() if payload is None else payload, headers=headers, timeout=5, **kw)


def cedit(emu, payload, headers=None):
    return requests.post(f"{emu.base_url}/v1/images/edits", json=payload, headers=headers, timeout=5)


# ---- success --------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["png", "jpeg", "jpg", "raw"])
def test_dedicated_b64_formats(emu, fmt):
    r = edit(emu, body(response_format=fmt))
    assert r.status_code == 200, r.text
    (item,) = r.json()["data"]
    assert set(item) == {"b64_json", "seed", "response_format"}
    assert item["seed"] == 7 and item["response_format"] == fmt
    raw = base64.b64decode(item["b64_json"])
    assert raw.startswith(MAGIC[fmt])
    img = decode(item["b64_json"])
    assert img.size == (24, 16) and img.mode == "RGB"
    if fmt == "raw":
        assert img.format == "WEBP" and raw[8:12] == b"WEBP"


def test_url_format_served_without_auth_and_recorded(emu):
    r = edit(emu, body(response_format=..., seed=3))  # missing -> url (the contract's default)
    (item,) = r.json()["data"]
    assert item["response_format"] == "url" and item["seed"] == 3 and "b64_json" not in item
    assert item["url"].startswith(f"{emu.files_base_url}/files/") and item["url"].endswith(".png")
    assert emu.files_base_url != emu.base_url
    got = requests.get(item["url"], timeout=5)
    assert got.status_code == 200 and got.headers["Content-Type"] == "image/png"
    assert got.content.startswith(MAGIC["png"])
    assert Image.open(io.BytesIO(got.content)).size == (24, 16)
    (rec,) = emu.file_requests
    assert rec.method == "GET" and rec.header("authorization") is None
    # the same image as png, byte for byte
    png = edit(emu, body(response_format="png", seed=3)).json()["data"][0]["b64_json"]
    assert base64.b64decode(png) == got.content
    assert requests.get(f"{emu.files_base_url}/files/nope.png", timeout=5).status_code == 404
    # a null response_format also means url
    assert edit(emu, body(response_format=None)).json()["data"][0]["response_format"] == "url"


@pytest.mark.parametrize("fmt,magic", [("jpeg", MAGIC["jpeg"]), ("raw", b"RIFF"), (None, MAGIC["jpeg"])])
def test_container_formats(emu, fmt, magic):
    payload = body(response_format=fmt, model=...)
    r = cedit(emu, payload, headers={"Authorization": "Bearer whatever"})
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"image"}
    raw = base64.b64decode(r.json()["image"])
    assert raw.startswith(magic) and decode(r.json()["image"]).size == (24, 16)


def test_container_needs_no_auth_and_accepts_adapter_model(emu):
    assert cedit(emu, body(response_format="jpeg", model="my-adapter")).status_code == 200
    assert cedit(emu, body(response_format="jpeg", model=None)).status_code == 200


@pytest.mark.parametrize("fmt", ["png", "jpg", "url", "webp"])
def test_container_format_restriction(emu, fmt):
    r = cedit(emu, body(response_format=fmt, model=...))
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "response_format"]
    assert "'raw' or 'jpeg'" in r.json()["detail"][0]["msg"]


def test_determinism(emu):
    def out(**kw):
        return base64.b64decode(edit(emu, body(**kw)).json()["data"][0]["b64_json"])

    first = out()
    assert out() == first
    assert out(seed=8) != first
    assert out(prompt="make it blue") != first
    assert out(num_inference_steps=30) != first
    assert out(guidance_scale=7) == out(guidance_scale=7.0) != first
    assert out(image={"image": base64.b64encode(PNG).decode()}) == first  # bare base64, same pixels
    c1 = cedit(emu, body(model=..., response_format="raw")).json()["image"]
    assert cedit(emu, body(model=..., response_format="raw")).json()["image"] == c1


def test_null_seed_picks_deterministic_seeds(emu):
    seeds = [edit(emu, body(seed=None)).json()["data"][0]["seed"] for _ in range(2)]
    assert seeds[0] != seeds[1] and all(isinstance(s, int) for s in seeds)
    emu.reset()
    assert [edit(emu, body(seed=None)).json()["data"][0]["seed"] for _ in range(2)] == seeds


def test_multi_image_list(emu):
    other = encode(sample(40, 30, value=1), "JPEG")
    payload = body(image=[{"image": data_uri(PNG)}, {"image": data_uri(other, "image/jpeg")}])
    r = edit(emu, payload)
    (item,) = r.json()["data"]
    img = decode(item["b64_json"])
    assert img.size == (24, 16)
    single = edit(emu, body()).json()["data"][0]["b64_json"]
    assert item["b64_json"] != single
    bad = edit(emu, body(image=[{"image": data_uri(PNG)}, {"image": "!!"}]))
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "image", 1, "image"]


def test_output_size(emu):
    emu.output_size = (50, 20)
    assert decode(edit(emu).json()["data"][0]["b64_json"]).size == (50, 20)
    assert decode(cedit(emu, body(model=..., response_format="jpeg")).json()["image"]).size == (50, 20)


def test_own_file_server_url_is_accepted_as_input(emu):
    url = edit(emu, body(response_format="url")).json()["data"][0]["url"]
    r = edit(emu, body(image={"image": url}))
    assert r.status_code == 200 and decode(r.json()["data"][0]["b64_json"]).size == (24, 16)
    missing = edit(emu, body(image={"image": f"{emu.files_base_url}/files/none.png"}))
    assert missing.status_code == 422


# ---- auth, endpoints ------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": TOKEN},
                                     {"Authorization": f"Basic {TOKEN}"}])
def test_401(emu, headers):
    r = edit(emu, headers=headers)
    assert r.status_code == 401 and r.json() == {"detail": "Invalid or missing API key"}
    assert TOKEN not in r.text


def test_404_unknown_endpoint_and_adapter_form(emu):
    r = edit(emu, body(model="other-endpoint"))
    assert r.status_code == 404 and r.json()["detail"] == "Endpoint other-endpoint not found"
    assert edit(emu, body(model="other-endpoint:adapter")).status_code == 404
    assert edit(emu, body(model="test-endpoint:my-adapter")).status_code == 200


def test_custom_endpoints_and_token():
    with emu_mod.Emulator("secret", endpoints={"a", "b"}) as emu:
        url = f"{emu.base_url}/dedicated/v1/images/edits"
        hdr = {"Authorization": "Bearer secret"}
        assert requests.post(url, json=body(model="b"), headers=hdr, timeout=5).status_code == 200
        assert requests.post(url, json=body(model="test-endpoint"), headers=hdr, timeout=5).status_code == 404
        assert requests.post(url, json=body(model="a"), headers=AUTH, timeout=5).status_code == 401
        assert "secret" not in repr(emu)


def test_unknown_route_and_method(emu):
    assert requests.post(f"{emu.base_url}/v1/other", json={}, timeout=5).status_code == 404
    assert requests.get(f"{emu.base_url}/v1/images/edits", timeout=5).status_code == 405


# ---- validation -----------------------------------------------------------------------------------

JPEG = encode(sample(), "JPEG")
BAD_BODIES = [
    (body(image=...), ["body", "image"], "missing"),
    (body(image="abc"), ["body", "image"], "model_type"),
    (body(image=[]), ["body", "image"], "too_short"),
    (body(image=["abc"]), ["body", "image", 0], "model_type"),
    (body(image={}), ["body", "image", "image"], "missing"),
    (body(image={"image": 5}), ["body", "image", "image"], "string_type"),
    (body(image={"image": "not base64!"}), ["body", "image", "image"], "value_error"),
    (body(image={"image": base64.b64encode(b"hello world!").decode()}), ["body", "image", "image"],
     "value_error"),
    (body(image={"image": data_uri(PNG, "image/jpeg")}), ["body", "image", "image"], "value_error"),
    (body(image={"image": data_uri(PNG, "text/plain")}), ["body", "image", "image"], "value_error"),
    (body(image={"image": "data:image/png," + "x"}), ["body", "image", "image"], "value_error"),
    (body(image={"image": "https://example.com/cat.png"}), ["body", "image", "image"], "value_error"),
    (body(image={"image": data_uri(PNG), "mask": "x"}), ["body", "image", "mask"], "extra_forbidden"),
    (body(prompt=...), ["body", "prompt"], "missing"),
    (body(prompt=3), ["body", "prompt"], "string_type"),
    (body(prompt=None), ["body", "prompt"], "string_type"),
    (body(model=None), ["body", "model"], "string_type"),
    (body(model=...), ["body", "model"], "missing"),
    (body(model=""), ["body", "model"], "value_error"),
    (body(model="a:b:c"), ["body", "model"], "value_error"),
    (body(model=5), ["body", "model"], "string_type"),
    (body(num_inference_steps=0), ["body", "num_inference_steps"], "greater_than_equal"),
    (body(num_inference_steps=51), ["body", "num_inference_steps"], "less_than_equal"),
    (body(num_inference_steps=2.0), ["body", "num_inference_steps"], "int_type"),
    (body(num_inference_steps=True), ["body", "num_inference_steps"], "int_type"),
    (body(num_inference_steps="20"), ["body", "num_inference_steps"], "int_type"),
    (body(num_inference_steps=None), ["body", "num_inference_steps"], "int_type"),
    (body(guidance_scale="7"), ["body", "guidance_scale"], "float_type"),
    (body(guidance_scale=False), ["body", "guidance_scale"], "float_type"),
    (body(seed=1.5), ["body", "seed"], "int_type"),
    (body(seed="1"), ["body", "seed"], "int_type"),
    (body(response_format="gif"), ["body", "response_format"], "enum"),
    (body(response_format=""), ["body", "response_format"], "enum"),
    (body(n=2), ["body", "n"], "extra_forbidden"),
    ([body()], ["body"], "model_attributes_type"),
]


@pytest.mark.parametrize("payload,loc,typ", BAD_BODIES)
def test_422_fields(emu, payload, loc, typ):
    r = edit(emu, payload)
    assert r.status_code == 422, r.text
    (detail,) = r.json()["detail"]
    assert detail["loc"] == loc and detail["type"] == typ and detail["msg"]


def test_422_collects_all_errors(emu):
    r = edit(emu, {"image": [], "prompt": 1, "num_inference_steps": 99, "size": "1024x1024"})
    locs = sorted(tuple(map(str, d["loc"])) for d in r.json()["detail"])
    assert locs == sorted([("body", "size"), ("body", "image"), ("body", "prompt"), ("body", "model"),
                           ("body", "num_inference_steps")])


def test_422_messages(emu):
    r = edit(emu, body(image={"image": "https://example.com/cat.png"}))
    assert "URL inputs are not supported by the emulator" in r.json()["detail"][0]["msg"]
    r = edit(emu, body(image={"image": data_uri(PNG, "image/jpeg")}))
    assert "image/jpeg" in r.json()["detail"][0]["msg"] and "image/png" in r.json()["detail"][0]["msg"]


@pytest.mark.parametrize("raw", [b"{not json", b"", b'{"seed": NaN}'])
def test_422_invalid_json(emu, raw):
    r = requests.post(f"{emu.base_url}/dedicated/v1/images/edits", data=raw,
                      headers={**AUTH, "Content-Type": "application/json"}, timeout=5)
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"


def test_mime_alias_and_other_formats_accepted(emu):
    assert edit(emu, body(image={"image": data_uri(JPEG, "image/jpg")})).status_code == 200
    assert edit(emu, body(image={"image": data_uri(JPEG, "image/jpeg")})).status_code == 200
    webp = encode(sample(), "WEBP")
    assert edit(emu, body(image={"image": data_uri(webp, "image/webp")})).status_code == 200


def test_size_limit(emu, monkeypatch):
    running_contract = sys.modules[type(emu).__module__.rsplit(".", 1)[0] + ".contract"]
    monkeypatch.setattr(running_contract, "MAX_IMAGE_BYTES", len(PNG) - 1)
    r = edit(emu)
    assert r.status_code == 422 and "50 MiB" in r.json()["detail"][0]["msg"]


def test_container_validation(emu):
    r = cedit(emu, body(model=5, response_format="jpeg", extra=1))
    assert sorted(d["loc"][1] for d in r.json()["detail"]) == ["extra", "model"]
    assert cedit(emu, body(model=..., image=...)).json()["detail"][0]["loc"] == ["body", "image"]


# ---- recording ------------------------------------------------------------------------------------

def test_requests_recorded(emu):
    payload = body()
    edit(emu, payload, headers={**AUTH, "X-Friendli-Team": "team-1"})
    cedit(emu, body(model=..., response_format="raw"))
    first, second = emu.requests
    assert (first.method, first.path) == ("POST", "/dedicated/v1/images/edits")
    assert first.header("x-friendli-team") == "team-1" and first.header("AUTHORIZATION") == AUTH["Authorization"]
    assert first.body == payload and first.raw and first.time <= second.time
    assert second.path == "/v1/images/edits" and second.header("X-Friendli-Team") is None


# ---- faults ---------------------------------------------------------------------------------------

def test_fault_status(emu):
    emu.fault("status", status=429, retry_after=2)
    emu.fault("status", status=500, body="upstream broke")
    emu.fault("status", status=503, body={"message": "busy"}, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    r = edit(emu)
    assert r.status_code == 429 and r.headers["Retry-After"] == "2" and "429" in r.json()["detail"]
    r = edit(emu)
    assert r.status_code == 500 and r.text == "upstream broke" and "Retry-After" not in r.headers
    r = edit(emu)
    assert r.status_code == 503 and r.json() == {"message": "busy"} and r.headers["Retry-After"].startswith("Wed")
    assert edit(emu).status_code == 200


def test_fault_times_fifo_and_container(emu):
    emu.fault("status", times=2, status=502)
    emu.fault("no_data")
    assert [edit(emu).status_code for _ in range(2)] == [502, 502]
    r = cedit(emu, body(model=..., response_format="jpeg"))
    assert r.status_code == 200 and r.json() == {}
    assert edit(emu).status_code == 200


def test_fault_faults_come_before_auth(emu):
    emu.fault("status", status=500)
    assert edit(emu, headers={}).status_code == 500


def test_fault_sleeping(emu):
    emu.fault("sleeping")
    emu.fault("sleeping", retry_after=30)
    r = edit(emu)
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"
    assert r.json() == {"detail": "Endpoint is sleeping and is now waking up; retry later"}
    assert edit(emu).headers["Retry-After"] == "30"


def test_fault_drop(emu):
    emu.fault("drop")
    with pytest.raises(requests.ConnectionError):
        edit(emu)
    assert edit(emu).status_code == 200 and len(emu.requests) == 2


def test_fault_garbage_and_html(emu):
    emu.fault("garbage")
    emu.fault("html")
    emu.fault("html", status=200)
    r = edit(emu)
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()
    r = edit(emu)
    assert r.status_code == 502 and r.headers["Content-Type"].startswith("text/html") and "<html>" in r.text
    r = edit(emu)
    assert r.status_code == 200 and "<html>" in r.text


def test_fault_empty_data_and_bad_base64(emu):
    emu.fault("empty_data")
    emu.fault("bad_base64")
    emu.fault("empty_data")
    emu.fault("bad_base64")
    assert edit(emu).json() == {"data": []}
    (item,) = edit(emu, body(response_format="jpeg")).json()["data"]
    assert item["response_format"] == "jpeg"
    with pytest.raises(Exception):
        decode(item["b64_json"])
    assert base64.b64decode(item["b64_json"], validate=True)
    assert cedit(emu, body(model=..., response_format="jpeg")).json() == {"image": ""}
    junk = cedit(emu, body(model=..., response_format="jpeg")).json()["image"]
    with pytest.raises(Exception):
        decode(junk)


def test_fault_url_missing(emu):
    emu.fault("url_missing")
    (item,) = edit(emu, body(response_format="url")).json()["data"]
    assert requests.get(item["url"], timeout=5).status_code == 404
    url = edit(emu, body(response_format="url")).json()["data"][0]["url"]
    assert requests.get(url, timeout=5).status_code == 200


def test_latency_fault_and_persistent_latency(emu):
    emu.fault("latency", seconds=0.3)
    t0 = time.monotonic()
    assert edit(emu).status_code == 200
    assert time.monotonic() - t0 >= 0.3  # at least the latency: a lower bound, not a speed claim
    assert edit(emu).status_code == 200  # the fault was used up
    emu.latency = 0.2
    t0 = time.monotonic()
    assert edit(emu).status_code == 200 and cedit(emu, body(model=..., response_format="raw")).ok
    assert time.monotonic() - t0 >= 0.4


def test_fault_argument_errors(emu):
    with pytest.raises(ValueError):
        emu.fault("explode")
    with pytest.raises(TypeError):
        emu.fault("drop", status=500)


def test_reset(emu):
    emu.fault("drop")
    emu.latency, emu.output_size = 5.0, (10, 10)
    requests.get(f"{emu.files_base_url}/files/x.png", timeout=5)
    emu.reset()
    assert edit(emu).status_code == 200
    assert emu.latency == 0 and emu.output_size is None and len(emu.requests) == 1
    assert emu.file_requests == []


# ---- lifecycle ------------------------------------------------------------------------------------

def test_stop_while_request_sleeps_and_port_reuse():
    emu = emu_mod.Emulator(TOKEN).start()
    port = int(emu.base_url.rsplit(":", 1)[1])
    emu.latency = 10
    errors = []

    def call():
        try:
            edit(emu)
        except requests.RequestException as exc:
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    deadline = time.monotonic() + 2
    while not emu.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    emu.stop()
    thread.join(2)
    assert not thread.is_alive() and len(errors) == 1
    with emu_mod.Emulator(TOKEN, port=port) as again:
        assert again.base_url == emu.base_url and edit(again).status_code == 200


def test_cli_serves_until_interrupted():
    # `python -m comfyui_friendli.emulator` once installed; here the checkout loaded by path, as ComfyUI does
    # Ctrl-C in a terminal: SIGINT delivered normally, even if the test process happens to ignore it
    # (an ignored SIGINT is inherited by children)
    launcher = child_code("pk") + ("import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
                                   "from pk.emulator import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.Popen([sys.executable, "-c", launcher, "--port", "0", "--token", "cli-token"],
                            stdout=subprocess.PIPE, text=True)
    try:
        base = proc.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:")
        r = requests.post(f"{base}/dedicated/v1/images/edits", json=body(),
                          headers={"Authorization": "Bearer cli-token"}, timeout=5)
        assert r.status_code == 200
    finally:
        proc.send_signal(2)  # SIGINT, as Ctrl-C
        assert proc.wait(timeout=30) == 0  # a bound for a loaded machine, not a speed claim


def test_cache_responses_answers_identical_requests_from_the_first_answer(emu):
    emu.cache_responses = True
    first = edit(emu).json()
    emu.output_size = (17, 9)  # a new computation would now give another image
    assert edit(emu).json() == first
    assert edit(emu, body(seed=99)).json() != first  # another request is computed
    emu.cache_responses = False
    assert edit(emu).json() != first
