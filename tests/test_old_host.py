"""ComfyUI before 0.3.45 (no async node functions, ``ProgressBar(total)`` only): the edit nodes run
synchronously there, with the same results and a working progress bar."""

from __future__ import annotations

import importlib
import inspect
import sys
import types

import pytest

from helpers import TOKEN, FakeHost, batch


@pytest.fixture
def old_host(monkeypatch, tmp_path):
    """FakeHost whose ProgressBar takes no node_id, installed before the pack is imported."""
    host = FakeHost(str(tmp_path / "user"))

    class ProgressBar:  # ComfyUI 0.3.44: the bar follows the node that is executing
        def __init__(self, total):
            self.total = total

        def update_absolute(self, value, total=None, preview=None):
            host.bar.append((value, total or self.total))

    host.modules["comfy.utils"] = types.SimpleNamespace(ProgressBar=ProgressBar)
    for name, module in host.modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    return host


def test_old_hosts_get_a_synchronous_function_with_the_same_results(old_host, emulator, monkeypatch):
    import packloader

    monkeypatch.setenv("FRIENDLI_TOKEN", TOKEN)
    monkeypatch.setenv("FRIENDLI_BASE_URL", emulator.base_url)
    pack = packloader.load_pack()
    edit = importlib.import_module(pack.__name__ + ".nodes.edit")
    for cls in (edit.FriendliImageEdit, edit.FriendliMultiImageEdit):
        assert cls.FUNCTION == "run_sync" and not inspect.iscoroutinefunction(getattr(cls, cls.FUNCTION))
    node = edit.FriendliImageEdit()
    inputs = dict(image=batch(3), prompt="make it blue", endpoint_id="test-endpoint", num_inference_steps=20,
                  guidance_scale=-1.0, seed=7, response_format="png", unique_id="4")
    out, seeds, failed = getattr(node, edit.FriendliImageEdit.FUNCTION)(**inputs)  # as the old executor calls it
    assert tuple(out.shape) == (3, 32, 48, 3) and seeds == "7, 8, 9" and float(failed.sum()) == 0
    assert old_host.bar[-1] == (3, 3)
    multi = edit.FriendliMultiImageEdit()
    out, seeds = multi.run_sync(image_1=batch(1), prompt="p", endpoint_id="test-endpoint", num_inference_steps=20,
                                 guidance_scale=-1.0, seed=3, response_format="png")
    assert out.shape[0] == 1 and seeds == "3"


def test_new_hosts_and_no_host_get_the_async_function(nodes, fake_host):
    import packloader

    assert inspect.iscoroutinefunction(getattr(nodes.edit.FriendliImageEdit, nodes.edit.FriendliImageEdit.FUNCTION))
    pack = packloader.load_pack()  # with FakeHost's ProgressBar(total, node_id=None)
    edit = importlib.import_module(pack.__name__ + ".nodes.edit")
    assert edit.FriendliImageEdit.FUNCTION == edit.FriendliMultiImageEdit.FUNCTION == "edit"
