"""Start and stop a real ComfyUI for the opt-in tests (COMFYUI_PATH, COMFYUI_PYTHON)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import struct
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image

from helpers import ROOT, TOKEN, photo

COMFYUI_PATH = os.environ.get("COMFYUI_PATH", "")
SKIP_REASON = ("opt-in: set COMFYUI_PATH to a ComfyUI checkout (and COMFYUI_PYTHON to its interpreter) "
               "to run the pack in a real ComfyUI host")


def host_version() -> tuple[int, ...]:
    """The version of the ComfyUI at COMFYUI_PATH (comfyui_version.py), (0,) when unknown."""
    try:
        text = (Path(COMFYUI_PATH) / "comfyui_version.py").read_text()
        return tuple(int(p) for p in re.search(r'__version__ = "([\d.]+)"', text).group(1).split("."))
    except (OSError, AttributeError, ValueError):
        return (0,)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ComfyUI 0.33 imports far more than 0.3.x: 2 min to start on a loaded 2-core machine, 4 min seen at load 20
START_TIMEOUT = float(os.environ.get("COMFYUI_START_TIMEOUT") or 600)


@contextmanager
def comfyui(args: list[str], env: dict[str, str], log: Path, timeout: float = START_TIMEOUT) -> Iterator[str]:
    """Run ``main.py --cpu`` on a free loopback port with ``args``; yield its URL once the pack's
    /api/friendli/status answers (the server is up and the pack loaded) or fail after ``timeout`` seconds
    (COMFYUI_START_TIMEOUT); stop it afterwards."""
    port = free_port()
    python = os.environ.get("COMFYUI_PYTHON") or sys.executable
    with open(log, "wb") as out:
        proc = subprocess.Popen([python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port), *args],
                                cwd=COMFYUI_PATH, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                pytest.fail(f"ComfyUI exited ({proc.returncode}): {log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"ComfyUI did not serve /api/friendli/status in time: {log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url + "/api/friendli/status", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


WIDTH, HEIGHT = 96, 64  # the input/example.png every host gets


@contextmanager
def running_host(base: Path, emulator_url: str, extra_nodes: dict[str, str] | None = None,
                 pack: Path = ROOT) -> Iterator["Host"]:
    """ComfyUI with ``--base-directory base`` holding our pack (``pack``, default the checkout, symlinked),
    ``extra_nodes`` (folder -> its __init__.py), an example.png, and the result store off (these tests mean
    to reach the endpoint)."""
    (base / "custom_nodes").mkdir(parents=True, exist_ok=True)
    (base / "custom_nodes" / "comfyui-friendli").symlink_to(pack, target_is_directory=True)
    for folder, code in (extra_nodes or {}).items():
        (base / "custom_nodes" / folder).mkdir()
        (base / "custom_nodes" / folder / "__init__.py").write_text(code)
    (base / "input").mkdir()
    Image.fromarray(photo(WIDTH, HEIGHT)).save(base / "input" / "example.png")
    prefs = base / "user" / "comfyui-friendli" / "preferences.json"
    prefs.parent.mkdir(parents=True)
    prefs.write_text(json.dumps({"result_store": False}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRIENDLI_")} | {
        "FRIENDLI_TOKEN": TOKEN, "FRIENDLI_BASE_URL": emulator_url,
        "XDG_CONFIG_HOME": str(base / "xdg"), "NO_PROXY": "127.0.0.1,localhost"}
    log = base / "comfyui.log"
    flags = ["--base-directory", str(base)]
    if "disable-api-nodes" in (Path(COMFYUI_PATH) / "comfy" / "cli_args.py").read_text():  # 0.3.3x lacks it
        flags.append("--disable-api-nodes")
    with comfyui(flags, env, log) as url:
        host = Host(url, base, log)
        host.object_info()  # answers once the nodes are loaded
        yield host


class Host:
    """A running ComfyUI: its URL, base directory and log (driven with aiohttp, which the test extra has)."""

    def __init__(self, url: str, base: Path, log: Path) -> None:
        self.url, self.base, self.log = url, base, log

    def run(self, prompt: dict, workflow: dict | None = None, during=None, timeout: float = 60,
            features: dict | None = None) -> dict:
        """Queue ``prompt``; return the history entry, the ws messages (JSON and progress text), the binary
        preview frames ({"kind", "node", "after_progress_of", "mime", "image", "time", ...}) and the elapsed time.

        ``features``: the feature flags this client announces first on the websocket, as the frontend does
        (``{"supports_preview_metadata": True}`` makes ComfyUI >= 0.3.46 send previews with their node id)."""
        return asyncio.run(self._run(prompt, workflow, during, timeout, features))

    async def _run(self, prompt, workflow, during, timeout, features=None):
        import aiohttp

        client_id = uuid.uuid4().hex
        messages: list[dict] = []
        previews: list[dict] = []  # binary preview frames (kept apart: messages stay JSON); "at": index in messages
        last_progress = None  # the node of the last "progress" message (the old preview frames name none)
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(f"{self.url}/ws?clientId={client_id}") as ws:
                if features is not None:
                    await ws.send_json({"type": "feature_flags", "data": features})
                body = {"prompt": prompt, "client_id": client_id,
                        "extra_data": {"extra_pnginfo": {"workflow": workflow}} if workflow else {}}
                async with http.post(f"{self.url}/prompt", json=body) as response:
                    answer = await response.json()
                    assert response.status == 200, answer
                prompt_id, started = answer["prompt_id"], time.monotonic()
                task = asyncio.create_task(during(http)) if during else None
                while True:
                    msg = await ws.receive(timeout=timeout)
                    if msg.type == aiohttp.WSMsgType.BINARY:
                        kind, = struct.unpack(">I", msg.data[:4])
                        if kind == 3:  # progress text: >I node-id length, node id, utf-8 text
                            size, = struct.unpack(">I", msg.data[4:8])
                            messages.append({"type": "progress_text", "node": msg.data[8:8 + size].decode(),
                                             "text": msg.data[8 + size:].decode()})
                        elif kind == 1:  # preview: >I image type (1 JPEG, 2 PNG), the image; no node id
                            image_type, = struct.unpack(">I", msg.data[4:8])
                            previews.append({"kind": 1, "node": None, "at": len(messages), "time": time.monotonic(),
                                             "after_progress_of": last_progress,
                                             "mime": {1: "image/jpeg", 2: "image/png"}.get(image_type),
                                             "image": bytes(msg.data[8:])})
                        elif kind == 4:  # preview with metadata: >I json length, json (node_id, ...), the image
                            size, = struct.unpack(">I", msg.data[4:8])
                            metadata = json.loads(msg.data[8:8 + size])
                            previews.append({"kind": 4, "node": metadata.get("node_id"), "at": len(messages),
                                             "time": time.monotonic(),
                                             "after_progress_of": last_progress, "metadata": metadata,
                                             "mime": metadata.get("image_type"), "image": bytes(msg.data[8 + size:])})
                        continue
                    data = json.loads(msg.data)
                    messages.append(data)
                    if data["type"] == "progress":
                        last_progress = data["data"].get("node")
                    if data["type"] in ("execution_error", "execution_interrupted", "execution_success") and \
                            data["data"].get("prompt_id") == prompt_id:
                        break
                elapsed = time.monotonic() - started
                if task:
                    await task
            for _ in range(50):  # history is written right after the final ws message
                async with http.get(f"{self.url}/history/{prompt_id}") as response:
                    history = await response.json()
                if prompt_id in history:
                    break
                await asyncio.sleep(0.1)
        return {"history": history[prompt_id], "messages": messages, "previews": previews, "elapsed": elapsed}

    def get(self, path: str) -> tuple[int, bytes]:
        import aiohttp

        async def get():
            async with aiohttp.ClientSession() as http, http.get(f"{self.url}{path}") as response:
                return response.status, await response.read()
        return asyncio.run(get())

    def post(self, path: str, body: dict) -> tuple[int, dict]:
        import aiohttp

        async def post():
            async with aiohttp.ClientSession() as http, http.post(f"{self.url}{path}", json=body) as response:
                return response.status, await response.json()
        return asyncio.run(post())

    def object_info(self) -> dict:
        status, body = self.get("/object_info")
        assert status == 200
        return json.loads(body)
