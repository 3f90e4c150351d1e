"""Plain helpers the tests share (no fixtures: those live in conftest.py): test images, IMAGE
batches, a node run with defaults, a stand-in for ComfyUI's modules, and the UI-workflow -> prompt
conversion the frontend does."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
import types

import numpy as np
from PIL import Image

from packloader import ROOT, load_pack  # noqa: F401 - re-exported: the tests' one pack loader

TOKEN = "flp_test-token-0123456789abcdef"
ROUTE_TOKEN = "flp_route-test-SECRET-9xyz"  # the keys the /friendli/* route tests save and must never see echoed
ROUTE_OTHER = "flp_another-SECRET-token-wxyz"


def photo(width: int = 96, height: int = 64, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A deterministic uint8 HxWxC image with gradients and noise (photo-like, not flat)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / max(width - 1, 1), y * 255 / max(height - 1, 1), (x + y) % 256], axis=-1)
    noisy = base + rng.normal(0, 12, base.shape)
    rgb = np.clip(noisy, 0, 255).astype(np.uint8)
    if channels == 1:
        return rgb[:, :, :1]
    if channels == 4:
        alpha = (np.arange(width)[None, :].repeat(height, 0) * 255 // max(width - 1, 1)).astype(np.uint8)
        return np.concatenate([rgb, alpha[:, :, None]], axis=-1)
    return rgb


def png_bytes(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array.squeeze(-1) if array.shape[-1] == 1 else array).save(out, "PNG")
    return out.getvalue()


def tensor(*arrays: np.ndarray):
    """uint8 HxWxC arrays -> an IMAGE batch [B,H,W,C] float32 (torch imported here, so that the
    client-only tests do not load it)."""
    import torch

    return torch.stack([torch.from_numpy(a).float() / 255 for a in arrays])


def batch(n: int, width: int = 48, height: int = 32, channels: int = 3):
    return tensor(*(photo(width, height, channels, seed=i) for i in range(n)))


def run_edit(nodes, image, prompt="make it blue", **kw):
    """FriendliImageEdit with the defaults a fresh node has; returns (image, seeds)."""
    args = dict(endpoint_id="test-endpoint", num_inference_steps=20, guidance_scale=-1.0, seed=7,
                response_format="png") | kw
    return asyncio.run(nodes.edit.FriendliImageEdit().edit(image, prompt, **args))[:2]


class FakeHost:
    """Just enough of ComfyUI's modules (comfy.model_management, comfy.utils, server, folder_paths)
    to watch what the host adapter does: the interrupt flag, progress bar values and messages."""

    def __init__(self, user_dir: str) -> None:
        self.flag = False
        self.lock = threading.RLock()
        self.bar: list[tuple[int, int]] = []
        self.previews: list[tuple[int, int, object]] = []  # (value, total, preview tuple), also in bar
        self.events: list[tuple[str, dict, object, str]] = []  # (event, data, sid, thread name)
        self.texts: list[tuple[str, str]] = []
        host = self

        class InterruptProcessingException(Exception):
            pass

        class ProgressBar:
            def __init__(self, total, node_id=None):
                self.total, self.node_id = total, node_id

            def update_absolute(self, value, total=None, preview=None):
                host.bar.append((value, total or self.total))
                if preview is not None:
                    host.previews.append((value, total or self.total, preview))
                if host.flag:  # as ComfyUI's hook does
                    host.flag = False
                    raise InterruptProcessingException()

        def throw_exception_if_processing_interrupted():
            if host.flag:
                host.flag = False
                raise InterruptProcessingException()

        class Server:
            client_id = "client-1"

            def send_sync(self, event, data, sid=None):
                host.events.append((event, data, sid, threading.current_thread().name))

            def send_progress_text(self, text, node_id, sid=None):
                host.texts.append((text, node_id))

        self.modules = {
            "comfy": types.ModuleType("comfy"),
            "comfy.model_management": types.SimpleNamespace(
                processing_interrupted=lambda: host.flag, InterruptProcessingException=InterruptProcessingException,
                throw_exception_if_processing_interrupted=throw_exception_if_processing_interrupted),
            "comfy.utils": types.SimpleNamespace(ProgressBar=ProgressBar),
            "server": types.SimpleNamespace(PromptServer=types.SimpleNamespace(instance=Server())),
            "folder_paths": types.SimpleNamespace(get_user_directory=lambda: user_dir),
        }
        self.Interrupt = InterruptProcessingException

    def progress_events(self) -> list[dict]:
        return [data for event, data, _, _ in self.events if event == "friendli.progress"]


async def call(client, method: str, path: str, secrets: tuple[str, ...] = (ROUTE_TOKEN, ROUTE_OTHER), **kw):
    """Send a request to the routes' test client; assert no secret is in the body or headers; return
    (status, json)."""
    resp = await client.request(method, path, **kw)
    text = await resp.text()
    for secret in secrets:
        assert secret not in text
        assert all(secret not in v for v in resp.headers.values())
        assert secret[-8:] not in text  # nothing beyond the last 4 characters
    assert resp.headers.get("Cache-Control") == "no-store"
    return resp.status, json.loads(text)


# ---- waiting and counting ------------------------------------------------------------------------

def error_of(fn):
    try:
        fn()
    except Exception as exc:  # noqa: BLE001
        return exc
    raise AssertionError("no error raised")


def wait_until(condition, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def established_to(port: int) -> int:
    """Open (ESTABLISHED) TCP connections to ``port`` on loopback, from any process end (Linux)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "01" and int(fields[2].rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


def friendli_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(("friendli-job", "friendli-run"))]


# ---- UI workflow (what the frontend saves) -> API prompt (what /prompt takes) -------------------

FRONTEND_ONLY = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}


def is_widget(spec) -> bool:
    return isinstance(spec[0], list) or spec[0] in WIDGET_TYPES


def widget_names(input_types: dict) -> list[tuple[str, tuple]]:
    """(name, spec) of each widget in the order the frontend serializes them, with the extra
    values it stores after a seed (control_after_generate) and after an upload combo."""
    out = []
    for section in ("required", "optional"):
        for name, spec in input_types.get(section, {}).items():
            if not is_widget(spec):
                continue
            out.append((name, spec))
            options = spec[1] if len(spec) > 1 else {}
            if options.get("control_after_generate") or (spec[0] == "INT" and name in ("seed", "noise_seed")):
                out.append((None, ("CONTROL",)))
            if options.get("image_upload"):
                out.append((None, ("UPLOAD",)))
    return out


def workflow_to_prompt(workflow: dict, input_types: dict[str, dict]) -> dict:
    """Convert a UI-format workflow as the frontend does (widgets by position, links by slot)."""
    links = {link[0]: link for link in workflow["links"]}
    prompt = {}
    for node in workflow["nodes"]:
        if node["type"] in FRONTEND_ONLY:
            continue
        types = input_types[node["type"]]
        names = widget_names(types)
        values = node.get("widgets_values", [])
        # a workflow saved before a widget was appended has fewer values: the frontend keeps the defaults
        assert len(values) <= len(names), f"{node['type']} #{node['id']}: {len(values)} widget values, {len(names)} widgets"
        inputs = {name: value for (name, _), value in zip(names, values) if name is not None}
        for name, spec in names[len(values):]:
            if name is not None:
                inputs[name] = spec[1]["default"]
        for slot in node.get("inputs", []):
            if slot.get("link") is not None:
                _, origin, origin_slot, target, _, _ = links[slot["link"]]
                assert target == node["id"]
                inputs[slot["name"]] = [str(origin), origin_slot]
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return prompt


# ---- the vendor's own models (friendli==0.16.5, the test extra) -----------------------------------

def wire_keys(model) -> tuple[set, set]:
    """(all JSON keys, required JSON keys) of an SDK model (its aliases, as the API sends them)."""
    keys = {n: f.alias or n for n, f in model.model_fields.items()}
    return set(keys.values()), {keys[n] for n, f in model.model_fields.items() if f.is_required()}


def check_model(sdk, name: str, obj: dict):
    """``obj`` validates against the SDK's model ``name`` and uses exactly its JSON keys (the SDK accepts
    Python names too and ignores unknown keys, so both are checked here)."""
    model = getattr(sdk, name)
    keys, required = wire_keys(model)
    assert set(obj) <= keys and required <= set(obj), (name, set(obj) ^ keys)
    return model.model_validate(obj)
