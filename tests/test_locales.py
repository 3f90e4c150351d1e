"""locales/: every node input and output, every setting, in every shipped language — and nothing else."""

from __future__ import annotations

import json
import re

import pytest

from helpers import ROOT

LANGUAGES = ("en", "zh", "ja", "ko")


def load(lang: str, name: str) -> dict:
    return json.loads((ROOT / "locales" / lang / f"{name}.json").read_text(encoding="utf-8"))


def extension_settings() -> dict[str, tuple[str, str | None]]:
    """id -> (English name, tooltip) as web/friendli.js declares them."""
    text = (ROOT / "web" / "friendli.js").read_text(encoding="utf-8")
    rows = re.findall(r'\["(\w+)", "([^"]+)", render', text)
    return {f"Friendli_{sid}": name for sid, name in rows}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_input_and_output_of_every_node_is_translated(pack, lang):
    defs = load(lang, "nodeDefs")
    assert set(defs) == set(pack.NODE_CLASS_MAPPINGS)
    for name, cls in pack.NODE_CLASS_MAPPINGS.items():
        entry = defs[name]
        assert entry["display_name"].strip() and entry["description"].strip()
        types = cls.INPUT_TYPES()
        inputs = {k: v for section in ("required", "optional") for k, v in types.get(section, {}).items()}
        assert set(entry["inputs"]) == set(inputs), (name, lang)
        for key, spec in inputs.items():
            item = entry["inputs"][key]
            assert item["name"] == key  # widget names stay as they are, so error messages name them in any language
            assert item["tooltip"].strip(), (name, key, lang)
        assert set(entry["outputs"]) == {str(i) for i in range(len(cls.RETURN_NAMES))}
        for i, out in entry["outputs"].items():
            assert out["name"] == cls.RETURN_NAMES[int(i)] and out["tooltip"].strip()
        if lang == "en":  # the English file says exactly what the code says
            assert entry["display_name"] == pack.NODE_DISPLAY_NAME_MAPPINGS[name]
            assert entry["description"] == cls.DESCRIPTION
            assert all(entry["inputs"][k]["tooltip"] == v[1]["tooltip"] for k, v in inputs.items())
            assert [o["tooltip"] for o in entry["outputs"].values()] == list(cls.OUTPUT_TOOLTIPS)
        else:
            assert entry["display_name"] != pack.NODE_DISPLAY_NAME_MAPPINGS[name]  # actually translated


@pytest.mark.parametrize("lang", LANGUAGES)
def test_settings_and_categories(lang):
    settings = load(lang, "settings")
    declared = extension_settings()
    assert set(settings) == set(declared) and len(declared) == 10
    assert all(item["name"].strip() for item in settings.values())
    if lang == "en":
        assert {k: v["name"] for k, v in settings.items()} == declared
    main = load(lang, "main")
    assert main["nodeCategories"] == {"Friendli": "Friendli"}
    used = set(re.findall(r'render\w*(?:\([^)]*\))?(?:,\s*\{[^}]*\}\))?, \d, "(\w+)"',
                          (ROOT / "web" / "friendli.js").read_text(encoding="utf-8")))
    assert used and used | {"Friendli"} == set(main["settingsCategories"])


def test_the_languages_hold_the_same_keys():
    for name in ("nodeDefs", "settings", "main"):
        shapes = {lang: json.dumps(_keys(load(lang, name)), sort_keys=True) for lang in LANGUAGES}
        assert len(set(shapes.values())) == 1, name


def _keys(data):
    return {k: _keys(v) for k, v in data.items()} if isinstance(data, dict) else None
