"""Shared fixtures: the pack loaded the way ComfyUI loads it, and the endpoint emulator on loopback."""

from __future__ import annotations

import importlib
import importlib.util
import io
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "flp_test-token-0123456789abcdef"


def load_pack(name: str | None = None):
    """Import the repo root as ComfyUI does: by folder path, under an arbitrary module name."""
    name = name or f"custom_node_friendli_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, ROOT / "__init__.py",
                                                  submodule_search_locations=[str(ROOT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def pack():
    return load_pack()


@pytest.fixture(scope="session")
def client_pkg(pack):
    return importlib.import_module(pack.__name__ + ".client")


@pytest.fixture(scope="session")
def _emulator_server(pack):
    emulator_module = importlib.import_module(pack.__name__ + ".emulator")
    with emulator_module.Emulator(token=TOKEN) as emulator:
        yield emulator


@pytest.fixture
def emulator(_emulator_server):
    """The running emulator, reset for each test (token TOKEN, endpoint "test-endpoint")."""
    _emulator_server.reset()
    yield _emulator_server
    _emulator_server.reset()


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """No test sees the developer's Friendli settings, stored key or proxies."""
    for name in ("FRIENDLI_TOKEN", "FRIENDLI_TEAM", "FRIENDLI_BASE_URL", "FRIENDLI_CREDENTIALS_FILE",
                 "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


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


@pytest.fixture(autouse=True)
def fresh_limiters(pack):
    """Each test starts with untouched per-endpoint in-flight limits (one test's 429s never slow the next)
    and no memory of recent endpoint wakes."""
    importlib.import_module(pack.__name__ + ".client.scheduler").reset_limiters()
    importlib.import_module(pack.__name__ + ".client.lifecycle").reset_wakes()
