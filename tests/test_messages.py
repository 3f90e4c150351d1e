"""Issue 17: an error's first line in the user's language, the English detail kept below it."""

from __future__ import annotations

import importlib
import json

import pytest

from helpers import ROOT, batch, run_edit

LANGUAGES = sorted(p.name for p in (ROOT / "locales").iterdir() if p.is_dir())


@pytest.fixture
def messages(pack):
    return importlib.import_module(pack.__name__ + ".nodes.messages")


def set_locale(pack, lang):
    prefs = importlib.import_module(pack.__name__ + ".client.prefs")
    prefs.write(prefs.validate({"locale": lang}, prefs.read(prefs.default_path())), prefs.default_path())


def test_every_language_has_every_title():
    tables = {lang: json.loads((ROOT / "locales" / lang / "errors.json").read_text(encoding="utf-8"))
              for lang in LANGUAGES}
    for lang, table in tables.items():
        assert set(table) == set(tables["en"]), lang
        assert all(v.strip() for v in table.values())
        assert "{index}" in table["image_failed"] and "{total}" in table["image_failed"]
        if lang != "en":
            assert not [k for k, v in table.items() if v == tables["en"][k] and k != "error"], lang


def test_the_kinds_cover_every_error_class(client_pkg, messages):
    errors = importlib.import_module(client_pkg.__name__ + ".errors")
    classes = {c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.FriendliError)}
    titled = {cls for cls, _ in messages.KINDS}
    assert classes - titled == {errors.FriendliBatchError}  # titled by its cause


def test_a_node_error_starts_in_korean_and_keeps_the_english(nodes, online, pack, client_pkg):
    set_locale(pack, "ko")
    online.fault("status", status=422, body={"detail": "bad prompt"})
    exc = pytest.raises(client_pkg.FriendliValidationError, run_edit, nodes, batch(1)).value
    first, _, rest = str(exc).partition("\n")
    assert first == "엔드포인트가 요청을 거부했습니다" and "bad prompt" in rest and "HTTP 422" in rest
    online.fault("status", times=1, status=401)
    exc = pytest.raises(client_pkg.FriendliBatchError, run_edit, nodes, batch(2), max_concurrency=1).value
    assert str(exc).startswith("2개 중 1번째 이미지가 실패했습니다 · API 키가 거부되었습니다\nimage 1 of 2 failed")


def test_english_and_unknown_languages_keep_the_message(nodes, online, pack, client_pkg):
    for lang in ("en", "fr"):
        set_locale(pack, lang)
        online.fault("status", status=422, body={"detail": "bad prompt"})
        exc = pytest.raises(client_pkg.FriendliValidationError, run_edit, nodes, batch(1)).value
        assert str(exc).startswith("the endpoint rejected the request (HTTP 422)")


def test_validation_messages_follow_the_language(nodes, pack):
    set_locale(pack, "ja")
    text = nodes.edit.FriendliImageEdit.VALIDATE_INPUTS(endpoint_id="")
    assert text.startswith("endpoint_id: エンドポイント ID が空です · is empty.")


def test_the_locale_preference_is_checked(pack, client_pkg):
    prefs = importlib.import_module(pack.__name__ + ".client.prefs")
    assert prefs.validate({"locale": "zh-TW"}).locale == "zh-TW"
    for bad in ("../../etc", "", "ko\n", 5, "x" * 40):
        with pytest.raises(client_pkg.FriendliInputError, match="locale"):
            prefs.validate({"locale": bad})
