"""locales/: every node input and output, every setting, in every shipped language — and nothing else."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from helpers import ROOT

LANGUAGES = tuple(sorted(p.name for p in (ROOT / "locales").iterdir() if p.is_dir()))


def test_the_shipped_languages():
    assert {"en", "zh", "ja", "ko"} <= set(LANGUAGES)
    assert set(LANGUAGES) <= {"en", "zh", "zh-TW", "ru", "ja", "ko", "fr", "es", "ar"}  # ComfyUI's frontend locales


def load(lang: str, name: str) -> dict:
    return json.loads((ROOT / "locales" / lang / f"{name}.json").read_text(encoding="utf-8"))


def extension_settings() -> tuple[list[dict], dict[str, str]]:
    """SETTINGS and SETTING_GROUPS as web/friendli-logic.js declares them (read by Node, which runs the module)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("`node` is not on PATH; reading the extension's settings needs Node.js >= 20")
    script = ("import { SETTINGS, SETTING_GROUPS } from './web/friendli-logic.js';"
              "console.log(JSON.stringify({ settings: SETTINGS, groups: SETTING_GROUPS }));")
    proc = subprocess.run([node, "--input-type=module", "-e", script], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(proc.stdout)
    return data["settings"], data["groups"]


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
    """settings.json holds exactly the extension's setting ids (dots as "_"), main.json its group labels."""
    declared, groups = extension_settings()
    settings = load(lang, "settings")
    ids = [item["id"] for item in declared]
    assert len(ids) == len(set(ids)) == 10 and all(i.startswith("Friendli.") for i in ids)
    assert set(settings) == {i.replace(".", "_") for i in ids}
    for item in declared:
        entry = settings[item["id"].replace(".", "_")]
        assert entry["name"].strip()
        assert ("tooltip" in entry) == ("tooltip" in item), item["id"]  # a tooltip exactly where the code has one
        if lang == "en":  # the English file says what the code says (the frontend's fallback)
            assert entry == {k: item[k] for k in ("name", "tooltip") if k in item}
        else:
            assert entry.get("tooltip", "") != item.get("tooltip", "") or "tooltip" not in item  # translated
    main = load(lang, "main")
    assert main["nodeCategories"] == {"Friendli": "Friendli"}
    assert set(main["settingsCategories"]) == {"Friendli", *groups} == {"Friendli", *(i["group"] for i in declared)}
    assert all(label.strip() for label in main["settingsCategories"].values())
    if lang == "en":
        assert main["settingsCategories"] == {"Friendli": "Friendli", **groups}


def test_the_languages_hold_the_same_keys():
    for name in ("nodeDefs", "settings", "main"):
        shapes = {lang: json.dumps(_keys(load(lang, name)), sort_keys=True) for lang in LANGUAGES}
        assert len(set(shapes.values())) == 1, name


def _keys(data):
    return {k: _keys(v) for k, v in data.items()} if isinstance(data, dict) else None
