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
            assert item["tooltip"].strip(), (name, key, lang)
        assert set(entry["outputs"]) == {str(i) for i in range(len(cls.RETURN_NAMES))}
        for i, out in entry["outputs"].items():
            assert out["tooltip"].strip(), (name, i, lang)
        if lang == "en":  # the English file says exactly what the code says
            assert entry["display_name"] == pack.NODE_DISPLAY_NAME_MAPPINGS[name]
            assert entry["description"] == cls.DESCRIPTION
            assert all(entry["inputs"][k]["tooltip"] == v[1]["tooltip"] for k, v in inputs.items())
            assert [o["tooltip"] for o in entry["outputs"].values()] == list(cls.OUTPUT_TOOLTIPS)
        else:
            assert entry["display_name"] != pack.NODE_DISPLAY_NAME_MAPPINGS[name]  # actually translated


# Languages whose display names are written in their own script: a translated name holds at least one letter that
# is not ASCII (an untranslated "endpoint_id" or "seeds" has none).
NON_LATIN = {"zh", "zh-TW", "ja", "ko", "ru", "ar"}


def node_inputs(cls) -> list[str]:
    """Every input the user sees on the node, widget or socket (required and optional; hidden ones are not shown)."""
    types = cls.INPUT_TYPES()
    return [k for section in ("required", "optional") for k in types.get(section, {})]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_widget_and_socket_has_a_display_name_in_the_language(pack, lang):
    """nodeDefs.json names every input (inputs.<name>.name) and output (outputs.<i>.name) of every node for display.
    English shows the internal names as they are; other languages show translated names (ComfyUI's own nodes are
    shown that way). The workflow keeps the internal names either way. The inputs come from INPUT_TYPES, so a new
    node or input fails here until every language names it."""
    defs = load(lang, "nodeDefs")
    for name, cls in pack.NODE_CLASS_MAPPINGS.items():
        assert name in defs, (name, lang)
        entry = defs[name]
        keys = node_inputs(cls)
        names = {key: entry["inputs"].get(key, {}).get("name", "") for key in keys}
        assert all(n.strip() == n and n for n in names.values()), (name, lang, names)
        assert len(set(names.values())) == len(names), (name, lang, names)  # no two inputs look alike
        returned = getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES)  # ComfyUI labels unnamed outputs by their type
        outputs = {str(i): entry["outputs"].get(str(i), {}).get("name", "") for i in range(len(returned))}
        assert all(n.strip() == n and n for n in outputs.values()), (name, lang, outputs)
        assert len(set(outputs.values())) == len(outputs), (name, lang, outputs)
        internal = dict(zip(keys, keys)) | {str(i): out for i, out in enumerate(returned)}
        shown = names | outputs
        if lang == "en":  # English users see exactly the names they always saw
            assert shown == internal, name
            continue
        assert not [n for n in shown.values() if "_" in n], (name, lang, shown)  # no identifier left as it is
        if lang in NON_LATIN:
            assert not [n for n in shown.values() if n.isascii()], (name, lang, shown)
        else:  # a Latin-script language may share a word or two with English ("mask"), not most of them
            kept = [k for k, n in shown.items() if n.casefold() == internal[k].casefold()]
            assert len(kept) * 2 < len(shown), (name, lang, kept)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_settings_and_categories(lang):
    """settings.json holds exactly the extension's setting ids (dots as "_"), main.json its group labels."""
    declared, groups = extension_settings()
    settings = load(lang, "settings")
    ids = [item["id"] for item in declared]
    assert len(ids) == len(set(ids)) == 14 and all(i.startswith("Friendli.") for i in ids)
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
