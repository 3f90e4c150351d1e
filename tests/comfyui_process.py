"""Start and stop a real ComfyUI for the opt-in tests (COMFYUI_PATH, COMFYUI_PYTHON)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

COMFYUI_PATH = os.environ.get("COMFYUI_PATH", "")
SKIP_REASON = ("opt-in: set COMFYUI_PATH to a ComfyUI checkout (and COMFYUI_PYTHON to its interpreter) "
               "to run the pack in a real ComfyUI host")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def comfyui(args: list[str], env: dict[str, str], log: Path, timeout: float = 240) -> Iterator[str]:
    """Run ``main.py --cpu`` on a free loopback port with ``args``; yield its URL once the pack's
    /api/friendli/status answers (the server is up and the pack loaded); stop it afterwards."""
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
