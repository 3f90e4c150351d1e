"""The /friendli/* routes on a real aiohttp server (loopback), with a temporary credentials file."""

from __future__ import annotations

import importlib
import json
import stat

import pytest

from helpers import ROUTE_OTHER as OTHER
from helpers import ROUTE_TOKEN as TOKEN
from helpers import call

web = pytest.importorskip("aiohttp.web")


@pytest.mark.asyncio
async def test_status_without_token(client, cred_path):
    status, data = await call(client, "GET", "/friendli/status")
    assert status == 200
    assert data == {"configured": False, "source": "none", "token_hint": None,
                    "base_url": "https://api.friendli.ai", "team": None,
                    "credentials_file": str(cred_path), "env_overrides_file": False}


@pytest.mark.asyncio
async def test_status_with_env_token(client, monkeypatch):
    monkeypatch.setenv("FRIENDLI_TOKEN", TOKEN)
    monkeypatch.setenv("FRIENDLI_BASE_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("FRIENDLI_TEAM", "team-env")
    status, data = await call(client, "GET", "/friendli/status")
    assert status == 200
    assert (data["configured"], data["source"], data["token_hint"]) == (True, "environment", "…9xyz")
    assert (data["base_url"], data["team"], data["env_overrides_file"]) == ("http://127.0.0.1:9", "team-env", False)


@pytest.mark.asyncio
async def test_store_replace_delete(client, cred_path):
    status, data = await call(client, "POST", "/friendli/credentials", json={"token": TOKEN, "team": "my.team_1"})
    assert status == 200
    assert (data["configured"], data["source"], data["token_hint"], data["team"]) == (True, "file", "…9xyz", "my.team_1")
    assert json.loads(cred_path.read_text()) == {"token": TOKEN, "team": "my.team_1"}
    assert stat.S_IMODE(cred_path.stat().st_mode) == 0o600
    assert [p.name for p in cred_path.parent.iterdir()] == ["credentials.json"]  # no temp file left

    status, data = await call(client, "POST", "/friendli/credentials", json={"token": f"  {OTHER}\n"})
    assert status == 200 and data["token_hint"] == "…wxyz" and data["team"] is None
    assert json.loads(cred_path.read_text()) == {"token": OTHER}
    assert stat.S_IMODE(cred_path.stat().st_mode) == 0o600

    # an empty token with a team keeps the stored key and changes the team
    status, data = await call(client, "POST", "/friendli/credentials", json={"token": "", "team": "t2"})
    assert status == 200 and data["token_hint"] == "…wxyz" and data["team"] == "t2"
    assert json.loads(cred_path.read_text()) == {"token": OTHER, "team": "t2"}

    status, data = await call(client, "GET", "/friendli/status")
    assert data["source"] == "file"

    status, data = await call(client, "DELETE", "/friendli/credentials")
    assert status == 200 and data["configured"] is False and data["source"] == "none"
    assert not cred_path.exists()
    status, data = await call(client, "DELETE", "/friendli/credentials")  # idempotent
    assert status == 200 and data["configured"] is False


@pytest.mark.asyncio
async def test_env_token_wins_but_file_is_stored(client, cred_path, monkeypatch):
    monkeypatch.setenv("FRIENDLI_TOKEN", OTHER)
    status, data = await call(client, "POST", "/friendli/credentials", json={"token": TOKEN})
    assert status == 200
    assert json.loads(cred_path.read_text())["token"] == TOKEN
    assert (data["source"], data["token_hint"], data["env_overrides_file"]) == ("environment", "…wxyz", True)


@pytest.mark.parametrize("body, field", [
    ({"token": "short"}, "token"),
    ({"token": "flp_has space-inside"}, "token"),
    ({"token": "flp_tab\tinside-xx"}, "token"),
    ({"token": "flp_nonascii-é-xxxx"}, "token"),
    ({"token": "x" * 513}, "token"),
    ({"token": 12345678}, "token"),
    ({}, "token"),
    ({"token": TOKEN, "team": "bad team!"}, "team"),
    ({"token": TOKEN, "team": "a" * 129}, "team"),
    ({"token": TOKEN, "team": ["x"]}, "team"),
])
@pytest.mark.asyncio
async def test_bad_input(client, cred_path, body, field):
    status, data = await call(client, "POST", "/friendli/credentials", json=body,
                              secrets=(TOKEN, "flp_has space-inside", "flp_nonascii"))
    assert status == 400
    assert data["error"].startswith(field + ":")
    assert not cred_path.exists()


@pytest.mark.parametrize("raw", [b"token=" + TOKEN.encode(), b"{not json", b"[1, 2]", b""])
@pytest.mark.asyncio
async def test_non_json_body(client, cred_path, raw):
    status, data = await call(client, "POST", "/friendli/credentials", data=raw,
                              headers={"Content-Type": "application/json"})
    assert status == 400 and "JSON" in data["error"]
    assert not cred_path.exists()


@pytest.mark.asyncio
async def test_too_large_body(client, cred_path):
    status, data = await call(client, "POST", "/friendli/credentials", json={"token": TOKEN, "pad": "x" * 5000})
    assert status == 400 and "too large" in data["error"]
    assert not cred_path.exists()


@pytest.mark.asyncio
async def test_cross_origin_refused(client, cred_path):
    status, data = await call(client, "POST", "/friendli/credentials", json={"token": TOKEN},
                              headers={"Origin": "http://evil.example"})
    assert status == 403 and not cred_path.exists()
    status, _ = await call(client, "GET", "/friendli/status", headers={"Origin": "null"})
    assert status == 403
    host = f"{client.server.host}:{client.server.port}"
    status, _ = await call(client, "POST", "/friendli/credentials", json={"token": TOKEN},
                           headers={"Origin": f"http://{host}"})
    assert status == 200 and cred_path.exists()


def test_register_adds_routes_to_the_host(routes_mod):
    class Server:
        routes = web.RouteTableDef()

    routes_mod.register(Server())
    assert {("DELETE", "/friendli/credentials"), ("GET", "/friendli/status"), ("POST", "/friendli/credentials"),
            ("GET", "/friendli/preferences"), ("POST", "/friendli/preferences")} <= {
            (r.method, r.path) for r in Server.routes}


def test_comfy_credentials_path(routes_mod, tmp_path, monkeypatch):
    import sys
    import types

    fake = types.ModuleType("folder_paths")
    fake.get_user_directory = lambda: str(tmp_path / "comfy-user")
    monkeypatch.setitem(sys.modules, "folder_paths", fake)
    assert routes_mod.comfy_credentials_path() == tmp_path / "comfy-user" / "comfyui-friendli" / "credentials.json"


def test_routes_module_imports_without_aiohttp(tmp_path):
    """aiohttp is ComfyUI's, not ours: only building the routes needs it."""
    import subprocess
    import sys

    from helpers import ROOT
    from packloader import child_code

    code = ("import sys; sys.modules['aiohttp'] = None\n" + child_code("pack") +
            "import importlib; routes = importlib.import_module(pack.__name__ + '.nodes.routes'); "
            f"print(routes.status(__import__('pathlib').Path({str(tmp_path / 'c.json')!r}))['source'])")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "none"


@pytest.mark.asyncio
async def test_preferences_defaults_update_and_refusals(client, cred_path):
    status, data = await call(client, "GET", "/friendli/preferences")
    assert status == 200 and data == {"trusted_hosts": [], "max_in_flight": 8, "wake_on_queue": True,
                                      "result_store": True, "result_store_gib": 4.0, "memory_budget_mib": 512,
                                      "confirm_over": 16, "confirm_headless": "send", "price_per_gpu_hour": 0.0,
                                      "locale": "en"}
    status, data = await call(client, "POST", "/friendli/preferences",
                              json={"trusted_hosts": ["https://My-Proxy.example.com/x", "10.0.0.5:8443"],
                                    "max_in_flight": 3})
    assert status == 200
    assert data["trusted_hosts"] == ["my-proxy.example.com", "10.0.0.5:8443"] and data["max_in_flight"] == 3
    stored = json.loads(cred_path.with_name("preferences.json").read_text())
    assert stored["trusted_hosts"] == ["my-proxy.example.com", "10.0.0.5:8443"]
    for bad, field in (({"max_in_flight": 0}, "max_in_flight"), ({"trusted_hosts": ["a b"]}, "trusted_hosts"),
                       ({"wake_on_queue": "yes"}, "wake_on_queue"), ({"colour": 1}, "colour")):
        status, data = await call(client, "POST", "/friendli/preferences", json=bad)
        assert status == 400 and data["error"].startswith(field)
    status, data = await call(client, "GET", "/friendli/preferences")
    assert data["max_in_flight"] == 3  # refused updates changed nothing
    status, data = await call(client, "POST", "/friendli/preferences", json={"max_in_flight": 1},
                              headers={"Origin": "http://evil.example", "Host": "127.0.0.1:8188"})
    assert status == 403


@pytest.mark.asyncio
async def test_deeply_nested_json_is_a_400_not_a_traceback(client):
    body = "[" * 2000 + "]" * 2000
    for path in ("/friendli/credentials", "/friendli/preferences"):
        status, data = await call(client, "POST", path, data=body, headers={"Content-Type": "application/json"})
        assert status == 400 and "JSON" in data["error"]


@pytest.mark.asyncio
async def test_status_shows_nothing_secret(client, monkeypatch):
    monkeypatch.setenv("FRIENDLI_BASE_URL", "https://user:hunter2-password@[::1/x")
    monkeypatch.setenv("FRIENDLI_TOKEN", "flp_1")  # a key this short is never shown, not even its end
    status, data = await call(client, "GET", "/friendli/status", secrets=(TOKEN, OTHER, "hunter2", "flp_1"))
    assert status == 200 and data["configured"] and data["token_hint"] == "…"
    assert data["error"] and data["base_url"] is None


@pytest.mark.asyncio
async def test_store_size_and_clear(client, cred_path, pack):
    store_mod = importlib.import_module(pack.__name__ + ".client.store")
    store = store_mod.ResultStore(cred_path.parent / "results", 10**6)
    store.put("b" * 64, [store_mod.StoredResult(b"x" * 1000, "image/png", 1, "png")])
    status, data = await call(client, "GET", "/friendli/store")
    assert status == 200 and data["enabled"] is True and data["entries"] == 1 and data["size_bytes"] > 1000
    assert data["max_bytes"] == 4 * 2**30 and data["path"] == str(cred_path.parent / "results")
    status, data = await call(client, "DELETE", "/friendli/store")
    assert status == 200 and data["entries"] == 0 and store.get("b" * 64) is None
    status, _ = await call(client, "DELETE", "/friendli/store", headers={"Origin": "http://evil.example"})
    assert status == 403


@pytest.mark.asyncio
async def test_endpoint_status_and_sleep_without_sending_an_edit(client, emulator, monkeypatch):
    from helpers import TOKEN as EMULATOR_TOKEN

    monkeypatch.setenv("FRIENDLI_BASE_URL", emulator.base_url)
    monkeypatch.setenv("FRIENDLI_TOKEN", EMULATOR_TOKEN)
    secrets = (TOKEN, OTHER, EMULATOR_TOKEN)
    status, data = await call(client, "POST", "/friendli/endpoint/status", secrets, json={"endpoint_id": "test-endpoint"})
    assert status == 200 and data["available"] and data["status"] == "RUNNING"
    status, data = await call(client, "POST", "/friendli/endpoint/sleep", secrets, json={"endpoint_id": "test-endpoint"})
    assert status == 200 and data["status"] == "SLEEPING" and emulator.endpoint.sleeps == 1
    emulator.endpoint.fail("INFERENCE_ENGINE_MEMORY_ERROR")
    status, data = await call(client, "POST", "/friendli/endpoint/status", secrets, json={"endpoint_id": "test-endpoint"})
    assert data["status"] == "FAILED" and "GPU memory" in data["explanation"]
    status, data = await call(client, "POST", "/friendli/endpoint/status", secrets, json={"endpoint_id": "nope"})
    assert status == 404 and data["kind"] == "not_found" and data["endpoint_id"] == "nope"
    assert data["error"].startswith("no endpoint nope for this API key") and "HTTP" not in data["error"]
    monkeypatch.setenv("FRIENDLI_TOKEN", "flp_wrong-key-1234")
    status, data = await call(client, "POST", "/friendli/endpoint/status", secrets + ("flp_wrong-key-1234",),
                              json={"endpoint_id": "test-endpoint"})
    assert status == 502 and "not accepted" in data["error"]
    status, data = await call(client, "POST", "/friendli/endpoint/status", secrets, json={"endpoint_id": ""})
    assert status == 400 and data["error"].startswith("endpoint_id")
    status, _ = await call(client, "POST", "/friendli/endpoint/sleep", secrets, json={"endpoint_id": "test-endpoint"},
                           headers={"Origin": "http://evil.example"})
    assert status == 403
    assert emulator.requests == []  # no edit, no GPU time
