"""Opt-in end-to-end test: a real ComfyUI with the pack, driven in headless Chromium.

Runs only when COMFYUI_PATH points at a ComfyUI checkout (its Python: COMFYUI_PYTHON, default this
interpreter) and Playwright's Python package plus a Chromium binary (Debian's `chromium`) exist.
Saves a key through the Friendli settings panel, runs a workflow against the emulator with latency,
a sleeping-endpoint answer and a batch, and screenshots the node's progress into
FRIENDLI_ARTIFACTS_DIR (default: the test's tmp dir / artifacts).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import urllib.request
from pathlib import Path

import pytest

from comfyui_process import COMFYUI_PATH, SKIP_REASON, comfyui
from helpers import ROOT, TOKEN, photo, png_bytes

if not COMFYUI_PATH:
    pytest.skip(SKIP_REASON, allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright's Python package (pip install playwright)")
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
if not os.access(CHROMIUM, os.X_OK):
    pytest.skip("needs a Chromium binary (apt-get install chromium, or CHROMIUM_PATH)", allow_module_level=True)

BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"]
TEAM = "qa-team"
BATCH = 6
EDIT_NODE = "3"


def pack_dirs(comfy: Path, tmp: Path) -> list[str]:
    """Extra arguments so ComfyUI loads this checkout once (already linked in custom_nodes, or via a config)."""
    custom = comfy / "custom_nodes"
    if any(p.resolve() == ROOT for p in custom.iterdir() if p.is_dir()):
        return []
    holder = tmp / "custom_nodes"
    holder.mkdir()
    (holder / "comfyui-friendli").symlink_to(ROOT, target_is_directory=True)
    config = tmp / "extra_paths.yaml"
    config.write_text(f"friendli:\n  custom_nodes: {holder}\n")
    return ["--extra-model-paths-config", str(config)]


def load_batch_workflow(page, batch: int, prompt: str, name: str) -> None:
    """Load LoadImage -> a batch of ``batch`` -> Friendli Image Edit (node EDIT_NODE) -> PreviewImage in the page."""
    workflow = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "friendli-test.png"}},
        "2": {"class_type": "RepeatImageBatch", "inputs": {"image": ["1", 0], "amount": batch}},
        EDIT_NODE: {"class_type": "FriendliImageEdit", "inputs": {
            "image": ["2", 0], "prompt": prompt, "endpoint_id": "test-endpoint",
            "seed": 7, "control_after_generate": "fixed", "max_concurrency": 1}},
        "4": {"class_type": "PreviewImage", "inputs": {"images": [EDIT_NODE, 0]}},
    }
    page.evaluate("([wf, name]) => app.loadApiJson(wf, name)", [workflow, name])


@pytest.fixture
def artifacts(tmp_path) -> Path:
    path = Path(os.environ.get("FRIENDLI_ARTIFACTS_DIR") or tmp_path / "artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def comfy(tmp_path, emulator, artifacts):
    """A ComfyUI server on a free port with tmp user/input/output/temp dirs, talking to the emulator."""
    comfy_dir = Path(COMFYUI_PATH).resolve()
    dirs = {name: tmp_path / name for name in ("user", "input", "output", "temp")}
    for d in dirs.values():
        d.mkdir()
    (dirs["user"] / "default").mkdir()
    (dirs["user"] / "default" / "comfy.settings.json").write_text(json.dumps({"Comfy.TutorialCompleted": True}))
    (dirs["input"] / "friendli-test.png").write_bytes(png_bytes(photo(96, 64)))
    env = {**os.environ, "FRIENDLI_BASE_URL": emulator.base_url, "PYTHONUNBUFFERED": "1"}
    env.pop("FRIENDLI_TOKEN", None)
    args = ["--disable-auto-launch", "--database-url", "sqlite:///:memory:",
            *(f"--{name}-directory={path}" for name, path in dirs.items()), *pack_dirs(comfy_dir, tmp_path)]
    with comfyui(args, env, artifacts / "comfyui.log") as url:
        yield url, dirs


def node_clip(page, node_id: str) -> dict:
    """The node's rectangle on screen (title included), padded."""
    box = page.evaluate("""(id) => {
        const n = app.graph.getNodeById(id), c = app.canvas, r = c.canvas.getBoundingClientRect();
        const s = c.ds.scale, o = c.ds.offset, th = (window.LiteGraph?.NODE_TITLE_HEIGHT ?? 30);
        return {x: r.left + (n.pos[0] + o[0]) * s, y: r.top + (n.pos[1] - th + o[1]) * s,
                width: n.size[0] * s, height: (n.size[1] + th) * s};
    }""", node_id)
    pad = 16
    return {"x": max(0, box["x"] - pad), "y": max(0, box["y"] - pad),
            "width": box["width"] + 2 * pad, "height": box["height"] + 2 * pad}


def test_settings_panel_and_live_progress(comfy, emulator, artifacts):
    url, dirs = comfy
    cred_file = dirs["user"] / "comfyui-friendli" / "credentials.json"
    console: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            page.goto(url)
            page.wait_for_function("window.app?.graph && window.app.extensionManager && "
                                   "app.extensions.some(e => e.name === 'friendli.settings')", timeout=120_000)

            # -- the key through the settings panel
            page.evaluate("app.extensionManager.command.execute('Comfy.ShowSettingsDialog')")
            page.get_by_text("Friendli", exact=True).first.click()
            page.locator("[data-testid=friendli-status]").filter(has_text="No key configured").wait_for()
            page.locator("[data-testid=friendli-token]").fill(TOKEN)
            page.locator("[data-testid=friendli-team]").fill(TEAM)
            page.locator("[data-testid=friendli-save]").click()
            page.locator("[data-testid=friendli-status]").filter(has_text=f"Key saved (…{TOKEN[-4:]})").wait_for()
            assert page.locator("[data-testid=friendli-token]").input_value() == ""
            page.screenshot(path=artifacts / "settings-panel.png")
            assert json.loads(cred_file.read_text()) == {"token": TOKEN, "team": TEAM}
            assert stat.S_IMODE(cred_file.stat().st_mode) == 0o600
            page.keyboard.press("Escape")

            # -- a workflow against the emulator: latency, one sleeping-endpoint answer, a batch
            emulator.latency = 1.5
            emulator.fault("sleeping", retry_after=1)
            load_batch_workflow(page, BATCH, "make it autumn", "friendli-browser-test")
            page.evaluate(f"app.canvas.centerOnNode(app.graph.getNodeById('{EDIT_NODE}'))")
            page.evaluate("app.queuePrompt(0, 1)")
            widget = page.locator("[data-testid=friendli-progress]")
            running = widget.and_(page.locator("[data-state=running]"))
            running.filter(has_text="endpoint waking up").wait_for(timeout=60_000)
            waking_text = widget.inner_text()
            page.screenshot(path=artifacts / "node-waking.png", clip=node_clip(page, EDIT_NODE))
            running.filter(has_text=f"2/{BATCH} done").wait_for(timeout=60_000)
            page.screenshot(path=artifacts / "node-progress.png", clip=node_clip(page, EDIT_NODE))
            running_text = widget.inner_text()
            widget.and_(page.locator("[data-state=done]")).wait_for(timeout=120_000)
            page.wait_for_timeout(400)
            page.screenshot(path=artifacts / "node-done.png", clip=node_clip(page, EDIT_NODE))
            page.screenshot(path=artifacts / "page-done.png")
            done_text = widget.inner_text()
            page.evaluate("app.extensionManager.setting.set('Comfy.ColorPalette', 'light')")
            page.wait_for_timeout(500)
            page.screenshot(path=artifacts / "node-done-light.png", clip=node_clip(page, EDIT_NODE))

            workflow_json = page.evaluate("JSON.stringify(app.graph.serialize())")
            prompt_json = page.evaluate("app.graphToPrompt().then(p => JSON.stringify(p))")
            storage = page.evaluate("JSON.stringify([{...localStorage}, {...sessionStorage}])")

            # -- Clear removes the stored key
            page.evaluate("app.extensionManager.command.execute('Comfy.ShowSettingsDialog')")
            page.get_by_text("Friendli", exact=True).first.click()
            page.locator("[data-testid=friendli-status]").filter(has_text=f"Key saved (…{TOKEN[-4:]})").wait_for()
            page.locator("[data-testid=friendli-clear]").click()
            page.locator("[data-testid=friendli-status]").filter(has_text="No key configured").wait_for()
            assert not cred_file.exists()
        finally:
            browser.close()

    assert f"0/{BATCH} done" in waking_text and "retry 1" in waking_text, waking_text
    assert f"/{BATCH} done" in running_text, running_text
    assert f"{BATCH}/{BATCH} done" in done_text and "seed" in done_text, done_text
    assert "retry 1" in done_text, done_text  # the sleeping answer was retried
    # the key saved in the panel is what reached the endpoint
    edits = [r for r in emulator.requests if r.path.endswith("/images/edits")]
    assert len(edits) == BATCH + 1
    assert {r.header("Authorization") for r in edits} == {f"Bearer {TOKEN}"}
    assert {r.header("X-Friendli-Team") for r in edits} == {TEAM}
    # ... and nowhere else: settings file, workflow, prompt, browser storage, console, history, outputs
    settings_text = (dirs["user"] / "default" / "comfy.settings.json").read_text()
    with urllib.request.urlopen(url + "/api/history", timeout=10) as resp:
        history = resp.read().decode()
    for name, text in [("comfy.settings.json", settings_text), ("workflow", workflow_json), ("prompt", prompt_json),
                       ("browser storage", storage), ("console", "\n".join(console)), ("history", history)]:
        assert TOKEN not in text, f"the key leaked into the {name}"
        assert TOKEN[4:-4] not in text, f"part of the key leaked into the {name}"
    assert not [m for m in console if m.startswith(("error", "pageerror")) and "friendli" in m.lower()], console
    assert '"Friendli.' not in settings_text  # our custom settings never store a value
    for path in [*dirs["temp"].rglob("*"), *dirs["output"].rglob("*"), artifacts / "comfyui.log"]:
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), f"the key leaked into {path}"
    print(f"\nscreenshots: {artifacts}")


# ---- issue 12: the pack's Korean texts in the page (for readable screenshots the machine needs a CJK font,
# Debian: fonts-noto-cjk; the assertions read the page's text and the graph, not pixels) ----------------------

KOREAN_BATCH = 2


def post_json(url: str, value) -> None:
    request = urllib.request.Request(url, data=json.dumps(value).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def test_korean_node_progress_and_settings_panel(comfy, emulator, artifacts):
    url, _dirs = comfy
    post_json(url + "/api/settings/Comfy.Locale", "ko")  # what choosing 한국어 in Settings stores
    post_json(url + "/api/friendli/credentials", {"token": TOKEN})
    emulator.latency = 0.5
    console: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900}, locale="ko-KR")
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            page.goto(url)
            page.wait_for_function("window.app?.graph && window.app.extensionManager && "
                                   "app.extensions.some(e => e.name === 'friendli.settings')", timeout=120_000)
            assert page.evaluate("app.extensionManager.setting.get('Comfy.Locale')") == "ko"

            # -- a Friendli node: its title from locales/ko/nodeDefs.json, its progress line from friendli-strings.js
            load_batch_workflow(page, KOREAN_BATCH, "가을 풍경으로", "friendli-ko")
            page.evaluate(f"app.canvas.centerOnNode(app.graph.getNodeById('{EDIT_NODE}'))")
            title = page.evaluate(f"app.graph.getNodeById('{EDIT_NODE}').title")
            page.evaluate("app.queuePrompt(0, 1)")
            widget = page.locator("[data-testid=friendli-progress]")
            widget.and_(page.locator("[data-state=done]")).wait_for(timeout=60_000)
            page.wait_for_timeout(400)
            done_text = widget.inner_text()
            page.screenshot(path=artifacts / "ko-node-done.png", clip=node_clip(page, EDIT_NODE))
            page.screenshot(path=artifacts / "ko-page-done.png")

            # -- Settings > Friendli: names from locales/ko/settings.json, controls from friendli-strings.js
            page.evaluate("app.extensionManager.command.execute('Comfy.ShowSettingsDialog')")
            page.get_by_text("Friendli", exact=True).first.click()
            status = page.locator("[data-testid=friendli-status]").filter(has_text=f"키 저장됨(…{TOKEN[-4:]})")
            status.wait_for(timeout=30_000)
            page.wait_for_timeout(400)
            dialog = page.get_by_role("dialog").first
            panel_text = dialog.inner_text()
            page.screenshot(path=artifacts / "ko-settings-friendli.png")
            page.keyboard.press("Escape")
        finally:
            browser.close()

    assert title == "Friendli 이미지 편집", title
    assert f"{KOREAN_BATCH}/{KOREAN_BATCH} 완료" in done_text and "시드 7" in done_text, done_text
    for korean in ("API 키", "팀(선택)", "신뢰할 수 있는 호스트", "연결 테스트", "지금 절전",
                   "큐에 추가될 때 엔드포인트 깨우기", "엔드포인트별 동시 요청 수", "결과 저장소 크기(GiB)", "저장"):
        assert korean in panel_text, (korean, panel_text)
    for english in ("Trusted hosts", "Test connection", "Key saved", "Wake endpoints when"):
        assert english not in panel_text, (english, panel_text)
    assert len([r for r in emulator.requests if r.path.endswith("/images/edits")]) == KOREAN_BATCH
    assert not [m for m in console if m.startswith(("error", "pageerror")) and "friendli" in m.lower()], console
    print(f"\nscreenshots: {artifacts}")
