"""GET/DELETE /friendli/store on a real aiohttp server: the folder beside the credentials file, the cap and
the switch from the preferences, clearing, the same-origin guard."""

from __future__ import annotations

import importlib

import pytest

from helpers import call

web = pytest.importorskip("aiohttp.web")


@pytest.fixture
def store_mod(pack):
    return importlib.import_module(pack.__name__ + ".client.store")


def fill(store_mod, folder, n: int) -> None:
    store = store_mod.ResultStore(folder, 10**6)
    for i in range(n):
        store.put(f"{i:064x}", [store_mod.StoredResult(b"x" * 1000, "image/png", i, "png")])


def test_the_store_folder_is_beside_the_credentials_file(routes_mod, tmp_path):
    cred = tmp_path / "user" / "comfyui-friendli" / "credentials.json"
    assert routes_mod.store_folder(cred) == tmp_path / "user" / "comfyui-friendli" / "results"


@pytest.mark.asyncio
async def test_an_empty_store_is_reported_and_not_created(client, cred_path):
    status, data = await call(client, "GET", "/friendli/store")
    assert status == 200
    assert data == {"enabled": True, "entries": 0, "size_bytes": 0, "max_bytes": 4 * 2**30,
                    "path": str(cred_path.parent / "results")}
    assert not (cred_path.parent / "results").exists()
    status, data = await call(client, "DELETE", "/friendli/store")  # clearing nothing is fine
    assert status == 200 and data["entries"] == 0


@pytest.mark.asyncio
async def test_size_follows_the_entries_and_clear_empties_them(client, cred_path, store_mod, routes_mod):
    folder = routes_mod.store_folder(cred_path)
    fill(store_mod, folder, 3)
    status, data = await call(client, "GET", "/friendli/store")
    on_disk = sum(p.stat().st_size for p in folder.iterdir())
    assert status == 200 and data["entries"] == 3 and data["size_bytes"] == on_disk > 3000
    status, cleared = await call(client, "DELETE", "/friendli/store")
    assert status == 200 and set(cleared) == set(data)  # the same shape as GET
    assert cleared["entries"] == 0 and cleared["size_bytes"] == 0 and list(folder.iterdir()) == []
    assert store_mod.ResultStore(folder, 10**6).get(f"{0:064x}") is None


@pytest.mark.asyncio
async def test_switch_and_cap_come_from_the_preferences(client, cred_path, store_mod, routes_mod):
    fill(store_mod, routes_mod.store_folder(cred_path), 1)
    status, _ = await call(client, "POST", "/friendli/preferences",
                           json={"result_store": False, "result_store_gib": 0.5})
    assert status == 200
    status, data = await call(client, "GET", "/friendli/store")
    assert status == 200 and data["enabled"] is False and data["max_bytes"] == 2**29
    assert data["entries"] == 1  # switched off keeps what is stored (Clear empties it)
    status, data = await call(client, "DELETE", "/friendli/store")
    assert status == 200 and data["enabled"] is False and data["entries"] == 0


@pytest.mark.asyncio
async def test_a_foreign_page_can_neither_read_nor_clear_it(client, cred_path, store_mod, routes_mod):
    folder = routes_mod.store_folder(cred_path)
    fill(store_mod, folder, 2)
    for method in ("GET", "DELETE"):
        status, data = await call(client, method, "/friendli/store", headers={"Origin": "http://evil.example"})
        assert status == 403 and "path" not in data
    assert len(list(folder.iterdir())) == 2
