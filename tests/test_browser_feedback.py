"""Opt-in browser test for issue 24's progress line, in a real ComfyUI (COMFYUI_PATH, Playwright, Chromium:
see test_browser.py): a lone image counts down "~N s left" once the endpoint has answered such a request (a batch
too, once its first image has answered), the line never reads "≈ $0.00", and a failed Friendli node's error is
titled with the node's title (in the UI language), not its class name. Screenshots in en, ko and ja go to FRIENDLI_ARTIFACTS_DIR."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest

from helpers import TOKEN
from test_browser import (EDIT_NODE, artifacts, comfy, load_batch_workflow, node_clip,  # noqa: F401 - fixtures
                          open_comfy, post_json)

COUNTDOWN = {"en": r"~\d+ s left", "ko": r"약 \d+초 남음", "ja": r"残り約 \d+ 秒"}
TITLE = {"en": "Friendli Image Edit", "ko": "Friendli 이미지 편집", "ja": "Friendli 画像編集"}


def run_once(page, seed: int) -> None:
    page.evaluate(f"""() => {{
        const node = app.graph.getNodeById('{EDIT_NODE}');
        node.widgets.find((w) => w.name === 'seed').value = {seed};
        app.queuePrompt(0, 1);
    }}""")


@pytest.mark.parametrize("lang", ["en", "ko", "ja"])
def test_countdown_cost_and_error_title(comfy, emulator, artifacts, lang):
    url, _dirs = comfy
    post_json(url + "/api/settings/Comfy.Locale", lang)
    post_json(url + "/api/friendli/credentials", {"token": TOKEN})
    post_json(url + "/api/friendli/preferences", {"price_per_gpu_hour": 2.0})
    emulator.latency = 3.0
    console: list[str] = []
    report: dict = {}
    with open_comfy(url, console, locale={"ko": "ko-KR", "ja": "ja-JP"}.get(lang, "en-US"), report=report) as page:
        load_batch_workflow(page, 1, "make it night", f"friendli-eta-{lang}")
        page.evaluate(f"app.canvas.centerOnNode(app.graph.getNodeById('{EDIT_NODE}'))")
        widget = page.locator("[data-testid=friendli-progress]")
        run_once(page, 7)  # the first answer of this kind: no countdown yet
        widget.and_(page.locator("[data-state=done]")).wait_for(timeout=60_000)
        first = widget.inner_text()
        run_once(page, 8)  # the second: counts down from the first one's time
        page.wait_for_function(f"""() => /{COUNTDOWN[lang]}/.test(
            document.querySelector('[data-testid=friendli-progress]')?.innerText ?? '')""", timeout=30_000)
        counting = widget.inner_text()
        page.screenshot(path=artifacts / f"{lang}-countdown.png", clip=node_clip(page, EDIT_NODE))
        page.wait_for_timeout(1500)
        later = widget.inner_text()
        widget.and_(page.locator("[data-state=done]")).wait_for(timeout=60_000)
        done = widget.inner_text()
        page.screenshot(path=artifacts / f"{lang}-done.png", clip=node_clip(page, EDIT_NODE))

        emulator.fault("status", status=422, body={"detail": "this prompt is not allowed"})
        run_once(page, 9)
        page.get_by_text("this prompt is not allowed").first.wait_for(timeout=60_000)
        page.wait_for_timeout(800)
        page.screenshot(path=artifacts / f"{lang}-error.png")
        shown = page.locator("body").inner_text()
        node_title = page.evaluate(f"app.graph.getNodeById('{EDIT_NODE}').title")

    summary = {"frontend": report.get("frontend"), "first": first, "counting": counting, "later": later,
               "done": done, "node_title": node_title}
    print(f"\n{json.dumps(summary, ensure_ascii=False, indent=1)}\nscreenshots: {artifacts}")
    assert not re.search(COUNTDOWN[lang], first), first
    seconds = [int(s) for s in re.findall(r"\d+", re.search(COUNTDOWN[lang], counting).group(0))]
    later_match = re.search(COUNTDOWN[lang], later)
    assert seconds and 1 <= seconds[0] <= 3, counting
    if later_match:  # 1.5 s later it counted down (or reached "almost done")
        assert int(re.findall(r"\d+", later_match.group(0))[0]) < seconds[0], (counting, later)
    assert "$0.00" not in first + counting + later + done
    assert node_title == TITLE[lang]
    assert node_title in shown and "FriendliImageEdit" not in shown, shown[:2000]
    assert not [m for m in console if m.startswith("pageerror") and "friendli" in m.lower()], console


def test_a_batch_counts_down(comfy, emulator, artifacts):
    """Four images, one at a time, 1 s each: once the first has answered, the line counts down the rest
    ("~3 s left", then lower) and the countdown is gone when the run is done."""
    url, _dirs = comfy
    post_json(url + "/api/friendli/credentials", {"token": TOKEN})
    emulator.latency = 1.0
    console: list[str] = []
    report: dict = {}
    with open_comfy(url, console, report=report) as page:
        load_batch_workflow(page, 4, "make it night", "friendli-batch-eta")
        page.evaluate(f"app.canvas.centerOnNode(app.graph.getNodeById('{EDIT_NODE}'))")
        widget = page.locator("[data-testid=friendli-progress]")
        run_once(page, 7)
        page.wait_for_function(f"""() => /{COUNTDOWN['en']}/.test(
            document.querySelector('[data-testid=friendli-progress]')?.innerText ?? '')""", timeout=60_000)
        counting = widget.inner_text()
        page.screenshot(path=artifacts / "en-batch-countdown.png", clip=node_clip(page, EDIT_NODE))
        page.wait_for_timeout(1500)
        later = widget.inner_text()
        widget.and_(page.locator("[data-state=done]")).wait_for(timeout=60_000)
        done = widget.inner_text()
    print(f"\n{json.dumps({'frontend': report.get('frontend'), 'counting': counting, 'later': later, 'done': done})}")
    first = int(re.search(r"~(\d+) s left", counting).group(1))
    assert 1 <= first <= 4 and "/4" in counting, counting  # at most the three images left, 1 s each, and the one sent
    later_match = re.search(r"~(\d+) s left", later)
    assert later_match is None or int(later_match.group(1)) <= first, (counting, later)  # counting down, not up
    assert not re.search(COUNTDOWN["en"], done) and "4/4" in done, done
    assert not [m for m in console if m.startswith("pageerror") and "friendli" in m.lower()], console


def test_no_key_and_no_endpoint_id_once_each_on_endpoint_id(comfy, emulator):
    """A host with no API key saved or set, an empty endpoint_id and an empty prompt: /prompt is refused with one
    error entry, on endpoint_id, saying the three problems once each, one labelled line each (the host repeats a
    message under every input a check names; the extension puts each line on its field)."""
    url, _dirs = comfy
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "friendli-test.png"}},
        EDIT_NODE: {"class_type": "FriendliImageEdit", "inputs": {
            "image": ["1", 0], "prompt": "", "endpoint_id": "", "num_inference_steps": 20,
            "guidance_scale": -1.0, "seed": 5, "response_format": "png"}},
        "4": {"class_type": "PreviewImage", "inputs": {"images": [EDIT_NODE, 0]}},
    }
    request = urllib.request.Request(url + "/prompt", data=json.dumps({"prompt": prompt}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    answer = json.loads(refused.value.read())
    entries = answer["node_errors"][EDIT_NODE]["errors"]
    print(f"\n{json.dumps(entries, indent=1)}")
    assert refused.value.code == 400 and [e["extra_info"]["input_name"] for e in entries] == ["endpoint_id"], entries
    details = entries[0]["details"]
    lines = details.removeprefix("endpoint_id - ").split("\n")
    assert [line.split(": ")[0] for line in lines] == ["endpoint_id", "prompt", "API key (Settings > Friendli)"], lines
    assert details.count("is empty. Paste your endpoint id") == 1 and details.count("No Friendli API key is set") == 1
    assert "Settings > Friendli > API key" in details
    assert emulator.requests == []
