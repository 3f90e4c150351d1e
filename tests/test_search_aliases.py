"""The run nodes are found by the words artists type (SEARCH_ALIASES, served as search_aliases by ComfyUI 0.33).

Frontends 1.49 and 1.58 search a node's name, its (translated) display name and its search_aliases as sent,
with Fuse.js; they never translate aliases, so the zh, zh-TW, ja and ko words sit in the same list."""

from __future__ import annotations

import pytest

RUN_NODES = ["FriendliImageEdit", "FriendliMultiImageEdit", "FriendliImageGenerate"]
# words someone looking for each node types, in en, zh, zh-TW, ja and ko; each must be in its list
EXPECTED = {
    "FriendliImageEdit": {"edit image", "img2img", "inpaint", "kontext", "remote", "图生图", "局部重绘", "圖生圖",
                          "インペイント", "인페인팅"},
    "FriendliMultiImageEdit": {"multiple images", "reference images", "edit image", "img2img", "kontext", "remote",
                               "参考图", "參考圖", "参照画像", "참조 이미지"},
    "FriendliImageGenerate": {"text to image", "txt2img", "controlnet", "remote", "文生图", "文生圖",
                              "テキストから画像", "텍스트로 이미지"},
}


@pytest.mark.parametrize("name", RUN_NODES)
def test_run_nodes_carry_the_words_artists_search_for(pack, name):
    aliases = pack.NODE_CLASS_MAPPINGS[name].SEARCH_ALIASES
    assert isinstance(aliases, list) and all(isinstance(a, str) for a in aliases)  # the host sends it as is
    assert EXPECTED[name] <= set(aliases)
    assert len(set(aliases)) == len(aliases), "an alias is listed twice"
    for alias in aliases:
        assert alias == alias.strip().lower() and "  " not in alias and 2 <= len(alias) <= 30, alias
        assert alias not in name.lower(), f"{alias!r} adds nothing: the node's name matches already"


def test_only_the_run_nodes_have_aliases_and_none_is_an_api_node(pack):
    """The settings-only Friendli Endpoint node needs none; API_NODE would turn Run into 'Sign in to run'."""
    for name, cls in pack.NODE_CLASS_MAPPINGS.items():
        assert hasattr(cls, "SEARCH_ALIASES") == (name in RUN_NODES), name
        assert not getattr(cls, "API_NODE", False), name
