"""The browser extension's pure logic under Node's built-in test runner (tests/web/*.test.mjs)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_web_logic_under_node():
    node = shutil.which("node")
    if node is None:
        pytest.skip("`node` is not on PATH; the web logic tests need Node.js >= 20 (node --test)")
    proc = subprocess.run([node, "--test", "tests/web/"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "# fail 0" in proc.stdout and "# pass 0" not in proc.stdout


def test_extension_modules_only_js_at_top():
    """ComfyUI serves web/ and loads every .js in it as an extension: no tests there, and only these modules."""
    assert sorted(p.name for p in (ROOT / "web").rglob("*.js")) == [
        "friendli-errors.js", "friendli-layout.js", "friendli-logic.js", "friendli-strings.js", "friendli.js"]
    assert not list((ROOT / "web").rglob("*.mjs"))
