"""Opt-in (issue 12): the pack's Korean texts in a real ComfyUI page, in headless Chromium.

Same requirements as tests/test_browser.py (COMFYUI_PATH, COMFYUI_PYTHON, Playwright's Python package,
a Chromium binary); for readable screenshots the machine needs a CJK font (Debian: fonts-noto-cjk) — the
assertions read the page's text and the graph, not pixels. With the UI language set to Korean
(`Comfy.Locale` = "ko") it runs a FriendliImageEdit node against the emulator and opens Settings > Friendli,
checks the node title, the progress line and the panel are Korean, and saves screenshots into
FRIENDLI_ARTIFACTS_DIR (default: the test's tmp dir / artifacts; tests/artifacts/ is git-ignored).
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from comfyui_process import COMFYUI_PATH, SKIP_REASON
from helpers import TOKEN

if not COMFYUI_PATH:
    pytest.skip(SKIP_REASON, allow_module_level=True)
from test_browser import BROWSER_ARGS, CHROMIUM, artifacts, comfy, node_clip, sync_api  # noqa: E402,F401

EDIT_NODE = "3"
BATCH = 2


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
            workflow = {
                "1": {"class_type": "LoadImage", "inputs": {"image": "friendli-test.png"}},
                "2": {"class_type": "RepeatImageBatch", "inputs": {"image": ["1", 0], "amount": BATCH}},
                EDIT_NODE: {"class_type": "FriendliImageEdit", "inputs": {
                    "image": ["2", 0], "prompt": "가을 풍경으로", "endpoint_id": "test-endpoint",
                    "seed": 7, "control_after_generate": "fixed", "max_concurrency": 1}},
                "4": {"class_type": "PreviewImage", "inputs": {"images": [EDIT_NODE, 0]}},
            }
            page.evaluate("(wf) => app.loadApiJson(wf, 'friendli-ko')", workflow)
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
    assert f"{BATCH}/{BATCH} 완료" in done_text and "시드 7" in done_text, done_text
    for korean in ("API 키", "팀(선택)", "신뢰할 수 있는 호스트", "연결 테스트", "지금 절전",
                   "대기열에 추가될 때 엔드포인트 깨우기", "엔드포인트별 동시 요청 수", "결과 저장소 크기(GiB)", "저장"):
        assert korean in panel_text, (korean, panel_text)
    for english in ("Trusted hosts", "Test connection", "Key saved", "Wake endpoints when"):
        assert english not in panel_text, (english, panel_text)
    assert len([r for r in emulator.requests if r.path.endswith("/images/edits")]) == BATCH
    assert not [m for m in console if m.startswith(("error", "pageerror")) and "friendli" in m.lower()], console
    print(f"\nscreenshots: {artifacts}")
