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

from helpers import TOKEN, check_model, wire_keys
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


# ---- the vendor's models (friendli==0.16.5, the test extra) ---------------------------------------

@pytest.fixture(scope="module")
def sdk():
    return pytest.importorskip("friendli.core.models", reason="the test extra installs friendli==0.16.5")


# ---- endpoints: get (spec) ------------------------------------------------------------------------

def get(emu, path, headers=AUTH, **kw):
    return requests.get(f"{emu.base_url}/dedicated/beta/endpoint{path}", headers=headers, timeout=5, **kw)


def test_get_endpoint_spec_is_the_sdks(emu, sdk):
    r = get(emu, "/test-endpoint", headers={**AUTH, "X-Friendli-Team": "team-1"})
    assert r.status_code == 200, r.text
    spec = r.json()
    parsed = check_model(sdk, "DedicatedEndpointSpec", spec)
    assert parsed.curr_replica_cnt == 1 and parsed.desired_replica_cnt == 1
    for key in ("name", "gpuType", "numGpu", "projectId", "teamId", "autoscalingMin", "autoscalingMax",
                "autoscalingCooldown", "currReplicaCnt", "desiredReplicaCnt"):
        assert key in spec
    (rec,) = emu.endpoint_requests
    assert (rec.method, rec.path) == ("GET", "/dedicated/beta/endpoint/test-endpoint")
    assert rec.header("x-friendli-team") == "team-1" and emu.lifecycle_requests == [] == emu.requests


def test_get_endpoint_spec_is_configurable(emu, sdk):
    emu.endpoint.spec.update(name="Kontext", gpuType="NVIDIA A100 80GB", numGpu=2, autoscalingMax=3,
                             autoscalingCooldown=120)
    emu.endpoint.replicas = 2
    other = emu.add_endpoint("gen-1", name="SDXL", projectId="p2")
    assert emu.endpoints["gen-1"] is other
    spec = get(emu, "/test-endpoint").json()
    assert (spec["name"], spec["gpuType"], spec["numGpu"], spec["autoscalingMax"], spec["autoscalingCooldown"],
            spec["currReplicaCnt"], spec["desiredReplicaCnt"]) == ("Kontext", "NVIDIA A100 80GB", 2, 3, 120, 2, 2)
    spec = check_model(sdk, "DedicatedEndpointSpec", get(emu, "/gen-1").json())
    assert (spec.name, spec.project_id) == ("SDXL", "p2")
    emu.endpoint.spec["currReplicaCnt"] = None  # a set value wins over the computed one
    assert get(emu, "/test-endpoint").json()["currReplicaCnt"] is None


def test_get_endpoint_replicas_follow_the_lifecycle(emu):
    def counts():
        spec = get(emu, "/test-endpoint").json()
        return spec["currReplicaCnt"], spec["desiredReplicaCnt"]

    emu.endpoint.set_state("SLEEPING", phases=(0.2, 0.2, 0.2))
    assert counts() == (0, 0)
    requests.put(f"{emu.base_url}/dedicated/beta/endpoint/test-endpoint/wake", headers=AUTH, timeout=5)
    assert counts() == (0, 1)  # waking: one wanted, none up yet
    time.sleep(0.7)
    assert counts() == (1, 1)
    emu.endpoint.fail("INFERENCE_ENGINE_MEMORY_ERROR")
    assert counts() == (0, 1)


def test_get_endpoint_errors(emu):
    r = get(emu, "/nope")
    assert r.status_code == 404 and r.json() == {"detail": "Endpoint nope not found"}
    assert get(emu, "/nope/status").json() == r.json()  # as the status route says it
    assert get(emu, "/test-endpoint", headers={}).status_code == 401
    assert get(emu, "/test-endpoint", headers={"Authorization": "Bearer nope"}).status_code == 401
    r = requests.put(f"{emu.base_url}/dedicated/beta/endpoint/test-endpoint", headers=AUTH, timeout=5)
    assert r.status_code == 405 and r.headers["Allow"] == "GET"
    assert get(emu, "/test-endpoint/restart").status_code == 404
    assert len(emu.endpoint_requests) == 4 and len(emu.lifecycle_requests) == 1


def test_endpoints_have_their_own_lifecycle(emu):
    emu.add_endpoint("other")
    emu.endpoints["other"].set_state("SLEEPING", phases=(60, 60, 60))
    assert edit(emu, body(model="other")).status_code == 503
    assert edit(emu).status_code == 200  # test-endpoint is still running
    assert get(emu, "/other/status").json()["status"] == "AWAKING"
    assert get(emu, "/test-endpoint/status").json()["status"] == "RUNNING"
    assert emu.endpoints["other"].wakes == 1 and emu.endpoint.wakes == 0
    del emu.endpoints["other"]
    assert edit(emu, body(model="other")).status_code == 404


def test_reset_restores_the_constructors_endpoints(emu):
    emu.add_endpoint("extra")
    emu.endpoint.spec["name"] = "changed"
    emu.endpoint.set_state("SLEEPING")
    emu.reset()
    assert list(emu.endpoints) == ["test-endpoint"] and emu.endpoint.running
    assert emu.endpoint.spec["name"] == "test-endpoint (emulated)"


def test_set_of_endpoints_is_taken_in_sorted_order():
    with emu_mod.Emulator("t", endpoints={"b", "a"}) as emu:
        assert list(emu.endpoints) == ["a", "b"] and emu.endpoint.id == "a"


# ---- endpoints: list ------------------------------------------------------------------------------

def list_all(emu, query=""):
    """Every page of the listing, following nextCursor; (pages, merged data)."""
    pages, cursor = [], None
    while True:
        params = dict(query) if query else {}
        if cursor:
            params["cursor"] = cursor
        r = get(emu, "", params=params)
        assert r.status_code == 200, r.text
        pages.append(r.json())
        cursor = r.json()["nextCursor"]
        if cursor is None:
            return pages, {k: v for page in pages for k, v in page["data"].items()}


def test_list_pages_through_many_endpoints(emu, sdk):
    ids = [f"ep-{i:02d}" for i in range(45)]
    for i in reversed(ids):
        emu.add_endpoint(i)
    pages, data = list_all(emu)
    assert [len(p["data"]) for p in pages] == [20, 20, 6]  # the SDK's default limit, 20
    assert list(data) == sorted(ids + ["test-endpoint"])
    for page in pages:
        assert set(page) == {"data", "nextCursor"}  # the JSON alias, not the Python name next_cursor
        parsed = check_model(sdk, "DedicatedEndpointListResponse", page)
        for item in page["data"].values():
            check_model(sdk, "DedicatedEndpointStatus", item)
        assert set(parsed.data) == set(page["data"])
    pages, data = list_all(emu, {"limit": 7})
    assert [len(p["data"]) for p in pages] == [7] * 6 + [4] and len(data) == 46
    pages, _ = list_all(emu, {"limit": 100})
    assert len(pages) == 1 and pages[0]["nextCursor"] is None


def test_list_shows_each_endpoints_own_state(emu, sdk):
    emu.add_endpoint("asleep").set_state("SLEEPING")
    emu.add_endpoint("broken").fail("INFERENCE_ENGINE_MEMORY_ERROR")
    emu.add_endpoint("waking").set_state("SLEEPING", phases=(60, 60, 60))
    emu.endpoints["waking"].wake()
    data = get(emu, "").json()["data"]
    assert {k: (v["status"], v["phase"], v["errorCode"]) for k, v in data.items()} == {
        "asleep": ("SLEEPING", None, None), "broken": ("FAILED", None, "INFERENCE_ENGINE_MEMORY_ERROR"),
        "test-endpoint": ("RUNNING", None, None), "waking": ("AWAKING", "REQUESTING_VIRTUAL_MACHINE", None)}
    check_model(sdk, "DedicatedEndpointListResponse", get(emu, "").json())
    assert all(r.path.startswith("/dedicated/beta/endpoint") for r in emu.endpoint_requests)


def test_list_filters_by_project(emu):
    emu.add_endpoint("p2-a", projectId="p2")
    emu.add_endpoint("p2-b", projectId="p2")
    assert list(get(emu, "", params={"project_id": "p2"}).json()["data"]) == ["p2-a", "p2-b"]
    assert len(get(emu, "", params={"project_id": ""}).json()["data"]) == 3  # empty = the whole team
    assert get(emu, "", params={"project_id": "none"}).json() == {"data": {}, "nextCursor": None}


def test_list_cursor_survives_changes_between_pages(emu):
    for i in range(5):
        emu.add_endpoint(f"e{i}")
    first = get(emu, "", params={"limit": 2}).json()
    assert list(first["data"]) == ["e0", "e1"]
    del emu.endpoints["e1"]  # the last one sent goes away: the next page still starts after it
    emu.add_endpoint("e0b")
    second = get(emu, "", params={"limit": 2, "cursor": first["nextCursor"]}).json()
    assert list(second["data"]) == ["e2", "e3"]


@pytest.mark.parametrize("params,loc,typ", [
    ({"limit": 0}, "limit", "greater_than_equal"), ({"limit": -1}, "limit", "greater_than_equal"),
    ({"limit": 101}, "limit", "less_than_equal"), ({"limit": "ten"}, "limit", "int_parsing"),
    ({"limit": ""}, "limit", "int_parsing"), ({"limit": "2.5"}, "limit", "int_parsing"),
    ({"cursor": "!!!"}, "cursor", "value_error"), ({"cursor": "abcde"}, "cursor", "value_error"),
    ({"cursor": "_w"}, "cursor", "value_error"),  # base64url of a byte that is not UTF-8
])
def test_list_rejects_bad_query(emu, params, loc, typ):
    r = get(emu, "", params=params)
    assert r.status_code == 422, r.text
    (detail,) = r.json()["detail"]
    assert detail["loc"] == ["query", loc] and detail["type"] == typ and detail["msg"]


def test_list_auth_method_and_unknown_query(emu):
    assert get(emu, "", headers={}).status_code == 401
    r = requests.post(f"{emu.base_url}/dedicated/beta/endpoint", json={}, headers=AUTH, timeout=5)
    assert r.status_code == 405 and r.headers["Allow"] == "GET"
    assert get(emu, "", params={"other": "x"}).status_code == 200  # unknown query parameters are ignored
    assert get(emu, "", params={"cursor": ""}).status_code == 200  # empty cursor = the first page


def test_beta_routes_absent_without_lifecycle_routes():
    with emu_mod.Emulator(TOKEN, lifecycle_routes=False) as bare:
        assert get(bare, "").status_code == 404 and get(bare, "/test-endpoint").status_code == 404


# ---- generations ----------------------------------------------------------------------------------

def gbody(**overrides):
    base = {"prompt": "a lighthouse at dusk", "model": "test-endpoint", "seed": 7, "response_format": "png",
            "num_inference_steps": 20, "guidance_scale": 3.5}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def generate(emu, payload=None, headers=AUTH):
    return requests.post(f"{emu.base_url}/dedicated/v1/images/generations",
                         json=gbody() if payload is None else payload, headers=headers, timeout=10)


def cgenerate(emu, payload):
    return requests.post(f"{emu.base_url}/v1/images/generations", json=payload, timeout=10)


def control(w=40, h=30, value=3, fmt="PNG"):
    return {"image": data_uri(encode(sample(w, h, value), fmt), "image/png" if fmt == "PNG" else "image/jpeg")}


@pytest.mark.parametrize("fmt", ["png", "jpeg", "jpg", "raw"])
def test_generation_formats_and_sdk_models(emu, sdk, fmt):
    payload = gbody(response_format=fmt)
    check_model(sdk, "DedicatedImageGenerationBody", payload)
    r = generate(emu, payload)
    assert r.status_code == 200, r.text
    check_model(sdk, "DedicatedImageGenerateSuccess", r.json())
    (item,) = r.json()["data"]
    assert set(item) == {"b64_json", "seed", "response_format"} and item == {**item, "seed": 7, "response_format": fmt}
    assert base64.b64decode(item["b64_json"]).startswith(MAGIC[fmt])
    img = decode(item["b64_json"])
    assert img.size == (512, 512) and img.mode == "RGB"


def test_generation_url_and_defaults(emu, sdk):
    r = generate(emu, {"model": "test-endpoint", "prompt": "a cat"})  # the least a body holds
    (item,) = r.json()["data"]
    check_model(sdk, "DedicatedImageGenerateSuccess", r.json())
    assert item["response_format"] == "url" and isinstance(item["seed"], int)
    got = requests.get(item["url"], timeout=5)
    assert got.status_code == 200 and Image.open(io.BytesIO(got.content)).size == (512, 512)


def test_generation_is_deterministic_per_prompt_and_seed(emu):
    def out(**kw):
        r = generate(emu, gbody(**kw))
        assert r.status_code == 200, r.text
        return base64.b64decode(r.json()["data"][0]["b64_json"])

    first = out()
    assert out() == first
    assert len({first, out(seed=8), out(prompt="a forest"), out(num_inference_steps=30),
                out(guidance_scale=None)}) == 5
    assert out(guidance_scale=7) == out(guidance_scale=7.0)
    emu.output_size = (64, 48)
    assert Image.open(io.BytesIO(out())).size == (64, 48)


def test_generation_control_images_are_visible(emu, sdk):
    ctrl = control()
    payload = gbody(control_images=[ctrl], controlnet_weights=[1.0])
    check_model(sdk, "DedicatedImageGenerationBody", payload)
    img = decode(generate(emu, payload).json()["data"][0]["b64_json"])
    assert img.size == (40, 30)  # the first control image's size
    ref = sample(40, 30, 3).astype(float)
    plain_img = decode(generate(emu, gbody(control_images=[ctrl], controlnet_weights=[0])).json()["data"][0]["b64_json"])
    emu.output_size = (40, 30)
    plain = decode(generate(emu).json()["data"][0]["b64_json"])
    assert np.array_equal(np.asarray(plain_img), np.asarray(plain))  # weight 0 leaves no trace
    near, far = (np.abs(np.asarray(x, float) - ref).mean() for x in (img, plain))
    assert near < far / 3  # weight 1: mostly the control image
    emu.output_size = None
    half = decode(generate(emu, gbody(control_images=[ctrl], controlnet_weights=[0.5])).json()["data"][0]["b64_json"])
    assert near < np.abs(np.asarray(half, float) - ref).mean() < far
    # no weights = all 1.0; a second control image changes the output
    assert generate(emu, gbody(control_images=[ctrl])).json() == generate(emu, payload).json()
    two = gbody(control_images=[ctrl, control(value=9)], controlnet_weights=[1, 0.5])
    check_model(sdk, "DedicatedImageGenerationBody", two)
    assert generate(emu, two).json() != generate(emu, payload).json()


def test_generation_container(emu, sdk):
    payload = gbody(model=..., response_format="jpeg", control_images=[control()], controlnet_weights=[0.7])
    check_model(sdk, "ContainerImageGenerationBody", payload)
    r = cgenerate(emu, payload)
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"image"}
    check_model(sdk, "ContainerImageGenerateSuccess", r.json())
    assert decode(r.json()["image"]).size == (40, 30)
    r = cgenerate(emu, {"prompt": "a cat"})  # container: model optional, jpeg by default
    assert r.status_code == 200 and base64.b64decode(r.json()["image"]).startswith(MAGIC["jpeg"])
    assert cgenerate(emu, gbody(response_format="png", model=...)).status_code == 422


def test_generation_requests_recorded(emu):
    payload = gbody(control_images=[control()], controlnet_weights=[0.25])
    generate(emu, payload)
    edit(emu)
    cgenerate(emu, gbody(model=..., response_format="raw"))
    first, second = emu.generation_requests
    assert (first.method, first.path, first.body) == ("POST", "/dedicated/v1/images/generations", payload)
    assert second.path == "/v1/images/generations" and len(emu.requests) == 3


GEN_BAD = [
    (gbody(prompt=...), ["body", "prompt"], "missing"),
    (gbody(model=...), ["body", "model"], "missing"),
    (gbody(image={"image": data_uri(PNG)}), ["body", "image"], "extra_forbidden"),
    (gbody(n=2), ["body", "n"], "extra_forbidden"),
    (gbody(width=512), ["body", "width"], "extra_forbidden"),
    (gbody(num_inference_steps=51), ["body", "num_inference_steps"], "less_than_equal"),
    (gbody(control_images={"image": data_uri(PNG)}), ["body", "control_images"], "list_type"),
    (gbody(control_images=["abc"]), ["body", "control_images", 0], "model_type"),
    (gbody(control_images=[{}]), ["body", "control_images", 0, "image"], "missing"),
    (gbody(control_images=[{"image": "!!"}]), ["body", "control_images", 0, "image"], "value_error"),
    (gbody(control_images=[control(), {"image": data_uri(PNG), "x": 1}]), ["body", "control_images", 1, "x"],
     "extra_forbidden"),
    (gbody(control_images=[control()], controlnet_weights=0.5), ["body", "controlnet_weights"], "list_type"),
    (gbody(control_images=[control()], controlnet_weights=[-0.1]), ["body", "controlnet_weights", 0],
     "greater_than_equal"),
    (gbody(control_images=[control()], controlnet_weights=[1.01]), ["body", "controlnet_weights", 0],
     "less_than_equal"),
    (gbody(control_images=[control()], controlnet_weights=["1"]), ["body", "controlnet_weights", 0], "float_type"),
    (gbody(control_images=[control()], controlnet_weights=[True]), ["body", "controlnet_weights", 0], "float_type"),
    (gbody(control_images=[control()], controlnet_weights=[0.5, 0.5]), ["body", "controlnet_weights"],
     "value_error"),
    (gbody(controlnet_weights=[0.5]), ["body", "controlnet_weights"], "value_error"),  # a weight, no image
    (gbody(control_images=None, controlnet_weights=[1]), ["body", "controlnet_weights"], "value_error"),
]


@pytest.mark.parametrize("payload,loc,typ", GEN_BAD)
def test_generation_422(emu, payload, loc, typ):
    r = generate(emu, payload)
    assert r.status_code == 422, r.text
    (detail,) = r.json()["detail"]
    assert detail["loc"] == loc and detail["type"] == typ and detail["msg"]


def test_generation_accepts_nulls_and_empty_lists(emu, sdk):
    for payload in (gbody(control_images=None, controlnet_weights=None), gbody(control_images=[], controlnet_weights=[]),
                    gbody(seed=None, response_format=None, guidance_scale=None)):
        check_model(sdk, "DedicatedImageGenerationBody", payload)
        r = generate(emu, payload)
        assert r.status_code == 200, r.text
        (item,) = r.json()["data"]
        assert item["response_format"] == (payload["response_format"] or "url")


def test_generation_422_collects_all_errors_and_names_the_count(emu):
    r = generate(emu, {"prompt": 1, "control_images": [control()], "controlnet_weights": [2, 0.5]})
    locs = sorted(tuple(map(str, d["loc"])) for d in r.json()["detail"])
    assert locs == sorted([("body", "prompt"), ("body", "model"), ("body", "controlnet_weights", "0"),
                           ("body", "controlnet_weights")])
    assert any("2 weight(s) for 1 control image(s)" in d["msg"] for d in r.json()["detail"])


def test_edit_refuses_generation_fields(emu):
    r = edit(emu, body(control_images=[control()]))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "control_images"]


def test_generation_auth_endpoint_and_lifecycle(emu):
    assert generate(emu, headers={}).status_code == 401
    assert generate(emu, gbody(model="nope")).status_code == 404
    assert generate(emu, gbody(model="test-endpoint:lora")).status_code == 200
    emu.endpoint.set_state("SLEEPING", phases=(60, 60, 60))
    r = generate(emu)
    assert r.status_code == 503 and "waking up" in r.json()["detail"]
    assert emu.endpoint.wakes == 1 and emu.endpoint.status()["status"] == "AWAKING"


def test_generation_faults_latency_and_cache(emu):
    emu.fault("status", status=429, retry_after=2)
    emu.fault("bad_base64")
    emu.fault("latency", seconds=0.3)
    r = generate(emu)
    assert r.status_code == 429 and r.headers["Retry-After"] == "2"
    with pytest.raises(Exception):
        decode(generate(emu).json()["data"][0]["b64_json"])
    t0 = time.monotonic()
    assert generate(emu).status_code == 200 and time.monotonic() - t0 >= 0.3
    emu.latency = 0.2
    t0 = time.monotonic()
    assert cgenerate(emu, gbody(model=..., response_format="raw")).ok and time.monotonic() - t0 >= 0.2
    emu.latency, emu.cache_responses = 0.0, True
    first = generate(emu).json()
    emu.output_size = (9, 9)
    assert generate(emu).json() == first


def test_edit_bodies_are_the_sdks(sdk):
    check_model(sdk, "DedicatedImageEditBody", body(image=[{"image": data_uri(PNG)}]))
    check_model(sdk, "ContainerImageEditBody", body(model=..., response_format="jpeg"))


# ---- the command line -----------------------------------------------------------------------------

def test_cli_latency_and_sleeping():
    launcher = child_code("pk") + ("import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
                                   "from pk.emulator import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.Popen([sys.executable, "-c", launcher, "--port", "0", "--token", "cli-token", "--sleeping",
                             "--wake-seconds", "1.5", "--latency", "0.4"], stdout=subprocess.PIPE, text=True)
    hdr = {"Authorization": "Bearer cli-token"}
    try:
        base = proc.stdout.readline().strip()
        assert "(sleeping)" in proc.stdout.readline()
        status = f"{base}/dedicated/beta/endpoint/test-endpoint/status"
        assert requests.get(status, headers=hdr, timeout=5).json()["status"] == "SLEEPING"
        t0 = time.monotonic()
        r = requests.post(f"{base}/dedicated/v1/images/edits", json=body(), headers=hdr, timeout=5)
        assert r.status_code == 503 and time.monotonic() - t0 >= 0.4  # the first request wakes it
        phases = set()
        deadline = time.monotonic() + 10
        while (state := requests.get(status, headers=hdr, timeout=5).json())["status"] != "RUNNING":
            phases.add(state["phase"])
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert phases <= {"REQUESTING_VIRTUAL_MACHINE", "DOWNLOADING_MODEL", "ENGINE_INITIALIZING"} and phases
        t0 = time.monotonic()
        r = requests.post(f"{base}/dedicated/v1/images/edits", json=body(), headers=hdr, timeout=5)
        assert r.status_code == 200 and time.monotonic() - t0 >= 0.4  # at least the latency
    finally:
        proc.send_signal(2)
        assert proc.wait(timeout=30) == 0


@pytest.mark.parametrize("flag", [["--latency", "-1"], ["--latency", "nan"], ["--wake-seconds", "x"]])
def test_cli_rejects_bad_seconds(flag):
    launcher = child_code("pk") + "from pk.emulator import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run([sys.executable, "-c", launcher, "--port", "0", *flag], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "seconds" in proc.stderr.lower()


def test_cli_help_names_the_new_flags():
    launcher = child_code("pk") + "from pk.emulator import main; sys.exit(main(sys.argv[1:]))"
    out = subprocess.run([sys.executable, "-c", launcher, "--help"], capture_output=True, text=True, timeout=60).stdout
    assert "--latency SECONDS" in out and "--sleeping" in out and "--wake-seconds" in out
