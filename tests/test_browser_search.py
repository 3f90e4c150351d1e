"""Opt-in browser test (issue 23): the node search finds the run nodes by their SEARCH_ALIASES.

Same setup as tests/test_browser.py (COMFYUI_PATH, COMFYUI_PYTHON, FRIENDLI_FRONTEND_ROOT, Chromium, Playwright).
Skipped on a host whose /object_info has no search_aliases (ComfyUI before 0.33)."""

from __future__ import annotations

import json
import urllib.request

import pytest

from helpers import ROOT
from test_browser import artifacts, comfy, open_comfy, post_json, sync_api  # noqa: F401 (fixtures)

# a query in each language -> the node (display names as locales/<lang>/nodeDefs.json give them)
QUERIES = {
    "en": [("img2img", "FriendliImageEdit"), ("inpaint", "FriendliImageEdit"), ("txt2img", "FriendliImageGenerate"),
           ("controlnet", "FriendliImageGenerate"), ("reference images", "FriendliMultiImageEdit")],
    "zh": [("局部重绘", "FriendliImageEdit"), ("文生图", "FriendliImageGenerate"), ("参考图", "FriendliMultiImageEdit")],
    "ko": [("인페인팅", "FriendliImageEdit"), ("참조 이미지", "FriendliMultiImageEdit")],
}


# the search box: frontends 1.49 and 1.58 open the "v2" one by default (Comfy.NodeSearchBoxImpl = default),
# the older PrimeVue one otherwise
def search_input(page):
    return page.locator('input[aria-controls="results-list"], .comfy-vue-node-search-box input').first


def results(page):
    return page.locator('#results-list [role=option], .comfy-vue-node-search-container [role=option]')


@pytest.mark.parametrize("lang", ["en", "zh", "ko"])
def test_node_search_finds_the_run_nodes_by_their_aliases(comfy, emulator, artifacts, lang):  # noqa: F811
    url, _dirs = comfy
    with urllib.request.urlopen(url + "/object_info/FriendliImageEdit", timeout=30) as response:
        if "search_aliases" not in json.loads(response.read())["FriendliImageEdit"]:
            pytest.skip("this ComfyUI serves no search_aliases (0.33 and later do)")
    post_json(url + "/api/settings/Comfy.Locale", lang)
    defs = json.loads((ROOT / "locales" / lang / "nodeDefs.json").read_text())
    display = {name: d["display_name"] for name, d in defs.items()}
    console: list[str] = []
    found: dict[str, list[str]] = {}
    report: dict = {}
    with open_comfy(url, console, report=report) as page:
        for query, node in QUERIES[lang]:
            page.evaluate("app.extensionManager.command.execute('Workspace.SearchBox.Toggle')")
            try:
                search_input(page).wait_for(timeout=10_000)
            except sync_api.TimeoutError:
                page.screenshot(path=artifacts / f"search-{lang}-no-box.png")
                raise
            search_input(page).fill(query)
            try:
                results(page).filter(has_text=display[node]).first.wait_for(timeout=10_000)
            except sync_api.TimeoutError:  # the assertion below names the query and what was listed
                pass
            found[query] = [t.split("\n")[0] for t in results(page).all_inner_texts()]  # the titles
            page.screenshot(path=artifacts / f"search-{lang}-{query.replace(' ', '_')}.png")
            page.keyboard.press("Escape")
            page.wait_for_timeout(300)
    for query, node in QUERIES[lang]:
        assert display[node] in found[query], \
            f"frontend {report.get('frontend')}: '{query}' did not list {display[node]}: {found[query][:12]}"
        print(f"{report.get('frontend')} '{query}': {display[node]} is #{found[query].index(display[node]) + 1} "
              f"of {len(found[query])}")
