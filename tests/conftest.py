"""Shared fixtures: the pack loaded the way ComfyUI loads it, the endpoint emulator on loopback, the
pack's node modules, the emulator as the configured endpoint, and a stand-in ComfyUI host.
Plain helpers (images, batches, FakeHost, workflow conversion) are in helpers.py."""

from __future__ import annotations

import importlib
import sys
import types

import pytest
import pytest_asyncio

from helpers import TOKEN, FakeHost, load_pack


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


@pytest.fixture(autouse=True)
def fresh_limiters(pack):
    """Each test starts with untouched per-endpoint in-flight limits (one test's 429s never slow the next)
    and no memory of recent endpoint wakes or answer times."""
    importlib.import_module(pack.__name__ + ".client.scheduler").reset_limiters()
    importlib.import_module(pack.__name__ + ".client.lifecycle").reset_wakes()
    importlib.import_module(pack.__name__ + ".nodes.progress").reset_times()


@pytest.fixture
def nodes(pack):
    """The pack's node modules by short name: nodes.edit, nodes.endpoint, nodes.host, nodes.tensors ..."""
    names = ("edit", "endpoint", "host", "tensors", "progress", "run")
    return types.SimpleNamespace(**{n: importlib.import_module(f"{pack.__name__}.nodes.{n}") for n in names})


@pytest.fixture
def env(monkeypatch, emulator):
    """The emulator as FRIENDLI_BASE_URL, with the right key in FRIENDLI_TOKEN."""
    monkeypatch.setenv("FRIENDLI_TOKEN", TOKEN)
    monkeypatch.setenv("FRIENDLI_BASE_URL", emulator.base_url)
    return emulator


@pytest.fixture
def online(env, pack):
    """``env`` with the result store off (tests that repeat a request mean to reach the endpoint; the
    tests of the store turn it on)."""
    emulator = env
    prefs = importlib.import_module(pack.__name__ + ".client.prefs")
    prefs.write(prefs.validate({"result_store": False}), prefs.default_path())
    return emulator


@pytest.fixture
def fake_host(monkeypatch, tmp_path, nodes):
    """Install FakeHost's modules in sys.modules for one test (ComfyUI absent otherwise), with the
    host's status text switched on so that its wording is checked too."""
    monkeypatch.setattr(nodes.host, "SEND_PROGRESS_TEXT", True)
    host = FakeHost(str(tmp_path / "user"))
    for name, module in host.modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    return host


# ---- the /friendli/* routes on a real aiohttp server (aiohttp is ComfyUI's; the route tests skip without it)

@pytest.fixture
def routes_mod(pack):
    return importlib.import_module(pack.__name__ + ".nodes.routes")


@pytest.fixture
def cred_path(tmp_path):
    """Where the routes keep the key in these tests (a temporary ComfyUI user folder)."""
    return tmp_path / "user" / "comfyui-friendli" / "credentials.json"


@pytest_asyncio.fixture
async def client(aiohttp_client, routes_mod, cred_path):
    """An aiohttp test client of an app serving the pack's routes with the key file at cred_path."""
    from aiohttp import web

    app = web.Application()
    app.add_routes(routes_mod.make_routes(lambda: cred_path))
    return await aiohttp_client(app)

