"""example_workflows/*.json: valid UI-format workflows whose widget values fit our nodes, with no secret, and
templates an artist can use: a thumbnail each, a human title, a first run that writes no files, the endpoint id
pointed out, and a saved view that shows the whole graph.

tests/test_comfyui_host.py loads them into a real ComfyUI (checked against its /object_info) and runs them.

How ComfyUI's frontend (1.27.10 and 1.58.1 alike, read from their source maps) shows a custom node pack's
templates: `GET /api/workflow_templates` lists the file names (without .json) per pack folder; the title *and*
the description are that file name (the description with - and _ turned into spaces), and the thumbnail is
`/api/workflow_templates/<pack folder>/<file name>.jpg`, shown in a square box (256 px in 1.27). Loading a
template restores its `extra.ds` view in 1.27.10 (1.58.1 fits the view itself).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from helpers import ROOT, is_widget, widget_names, workflow_to_prompt

WORKFLOWS = sorted((ROOT / "example_workflows").glob("*.json"))
CONTROL_VALUES = {"fixed", "increment", "decrement", "randomize"}
# The core nodes the examples use, as ComfyUI 0.3.64 declares their inputs (nodes.py, comfy_extras/). LoadImage
# offers only input/example.png, the one picture every ComfyUI ships, so an example never names a missing file.
CORE = {
    "LoadImage": {"required": {"image": (["example.png"], {"image_upload": True})}},
    "SaveImage": {"required": {"images": ("IMAGE",), "filename_prefix": ("STRING", {"default": "ComfyUI"})}},
    "PreviewImage": {"required": {"images": ("IMAGE",)}},
    "EmptyImage": {"required": {"width": ("INT", {"default": 512, "min": 1, "max": 16384}),
                                "height": ("INT", {"default": 512, "min": 1, "max": 16384}),
                                "batch_size": ("INT", {"default": 1, "min": 1, "max": 4096}),
                                "color": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFF})}},
    "RepeatImageBatch": {"required": {"image": ("IMAGE",), "amount": ("INT", {"default": 1, "min": 1, "max": 4096})}},
    "SolidMask": {"required": {"value": ("FLOAT", {"min": 0.0, "max": 1.0}), "width": ("INT", {"min": 1}),
                               "height": ("INT", {"min": 1})}},
    "MaskComposite": {"required": {"destination": ("MASK",), "source": ("MASK",), "x": ("INT", {"min": 0}),
                                   "y": ("INT", {"min": 0}),
                                   "operation": (["multiply", "add", "subtract", "and", "or", "xor"],)}},
    # nodes.py, the same in 0.3.30 (the oldest host the pack supports) and 0.3.64
    "ImageScaleBy": {"required": {"image": ("IMAGE",), "upscale_method": (["nearest-exact", "bilinear", "area",
                                                                             "bicubic", "lanczos"],),
                                  "scale_by": ("FLOAT", {"default": 1.0, "min": 0.01, "max": 8.0, "step": 0.01})}},
}


def input_types(pack) -> dict[str, dict]:
    return CORE | {name: cls.INPUT_TYPES() for name, cls in pack.NODE_CLASS_MAPPINGS.items()}


EDIT, BATCH, MULTI = "Friendli - Edit an image", "Friendli - Masked batch edit", "Friendli - Multi-image edit"
GENERATE_EDIT = "Friendli - Generate then edit"
RUN_NODES = ("FriendliImageEdit", "FriendliMultiImageEdit", "FriendliImageGenerate")  # the nodes that send requests
TITLE_HEIGHT = 30  # LiteGraph draws a node's title bar above its pos
# The canvas of a 1280x800 window in frontend 1.27.10 (a 40 px menu bar above it, a 40 px side bar to its left);
# the workflow tabs (37 px) lie over its top edge.
VIEW, TAB_BAR, MARGIN = (1240, 760), 40, 16
NOTES = {"Note", "MarkdownNote"}


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def origin(workflow: dict, node: dict, input_name: str) -> dict:
    """The node whose output feeds ``node``'s input ``input_name``."""
    [slot] = [s for s in node["inputs"] if s["name"] == input_name]
    [link] = [l for l in workflow["links"] if l[0] == slot["link"]]
    return next(n for n in workflow["nodes"] if n["id"] == link[1])


def test_the_required_examples_exist():
    assert {p.stem for p in WORKFLOWS} == {EDIT, BATCH, MULTI, GENERATE_EDIT}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_the_file_name_is_the_title(path: Path):
    """The template browser shows the file name as title and description: a short human title, with
    characters that are safe in a URL path and in a Windows file name."""
    assert path.stem.startswith("Friendli - ") and "_" not in path.stem and len(path.stem) <= 30
    assert not set(path.stem) & set('%#?&+:;<>"/\\|*'), path.stem


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_each_template_has_a_real_thumbnail(path: Path):
    thumbnail = path.with_suffix(".jpg")  # the name the frontend asks for
    assert thumbnail.is_file(), f"{thumbnail.name} is missing: the template browser shows a grey placeholder"
    assert thumbnail.stat().st_size < 150_000
    with Image.open(thumbnail) as image:
        assert image.format == "JPEG" and image.mode == "RGB"
        assert image.width == image.height and 256 <= image.width <= 1024  # the browser's box is square
        stats = ImageStat.Stat(image)
        assert min(stats.stddev) > 20  # a picture, not a flat placeholder
        assert len(image.getcolors(image.width * image.height)) > 1000


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_workflow_structure(path: Path):
    workflow = json.loads(path.read_text())
    assert workflow["version"] == 0.4 and isinstance(workflow["id"], str)
    nodes = {n["id"]: n for n in workflow["nodes"]}
    assert workflow["last_node_id"] == max(nodes) and workflow["last_link_id"] == max(l[0] for l in workflow["links"])
    for link_id, origin, origin_slot, target, target_slot, kind in workflow["links"]:
        assert link_id in nodes[origin]["outputs"][origin_slot]["links"]
        assert nodes[origin]["outputs"][origin_slot]["type"] == kind
        slot = nodes[target]["inputs"][target_slot]
        assert slot["link"] == link_id and slot["type"] == kind
    for node in workflow["nodes"]:
        for key in ("id", "type", "pos", "size", "flags", "order", "mode", "properties"):
            assert key in node


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_widget_values_fit_the_nodes(pack, path: Path):
    workflow = json.loads(path.read_text())
    types = input_types(pack)
    prompt = workflow_to_prompt(workflow, types)
    assert any(node["class_type"].startswith("Friendli") for node in prompt.values())
    for node_id, node in prompt.items():
        spec = types[node["class_type"]]
        for name, item in spec.get("required", {}).items():
            assert name in node["inputs"], f"{node['class_type']} #{node_id} lacks required input {name}"
        declared = spec["required"] | spec.get("optional", {})
        for name, value in node["inputs"].items():
            item = declared[name]
            if isinstance(value, list) and not is_widget(item):
                continue  # a link
            options = item[1] if len(item) > 1 else {}
            if isinstance(item[0], list):
                assert value in item[0], f"{name}={value!r}"
            elif item[0] in ("INT", "FLOAT"):
                assert isinstance(value, (int, float)) and options.get("min", value) <= value <= options.get("max", value)
            else:
                assert isinstance(value, str)
    for node in workflow["nodes"]:  # the stored seed control values are ones the frontend knows
        if node["type"].startswith("Friendli") and node["type"] != "FriendliEndpoint":
            assert node["widgets_values"][5] in CONTROL_VALUES


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_no_secret_in_examples(pack, path: Path):
    text = path.read_text()
    assert "flp_" not in text and "Bearer" not in text
    prompt = workflow_to_prompt(json.loads(text), input_types(pack))
    assert not any("token" in name.lower() or "key" in name.lower()
                   for node in prompt.values() for name in node["inputs"])


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_a_first_run_writes_no_files(path: Path):
    """Results go to Preview Image (ComfyUI's temp folder), not Save Image (output/)."""
    workflow = load(path)
    types = [n["type"] for n in workflow["nodes"]]
    assert "SaveImage" not in types
    for node in workflow["nodes"]:
        if node["type"].startswith("Friendli") and node["type"] != "FriendliEndpoint":
            targets = {l[3] for l in workflow["links"] if l[1] == node["id"] and l[2] == 0}
            assert any(n["type"] == "PreviewImage" for n in workflow["nodes"] if n["id"] in targets)


def test_the_multi_image_example_sends_two_different_pictures():
    """Its prompt speaks of image 1 and image 2, so they differ. ComfyUI ships one picture (input/example.png);
    image 2 is a color swatch made in the graph (Empty Image), so the first run needs no upload."""
    workflow = load(ROOT / "example_workflows" / f"{MULTI}.json")
    [edit] = [n for n in workflow["nodes"] if n["type"] == "FriendliMultiImageEdit"]
    assert "image 1" in edit["widgets_values"][0] and "image 2" in edit["widgets_values"][0]
    first, second = origin(workflow, edit, "image_1"), origin(workflow, edit, "image_2")
    assert first["id"] != second["id"]
    assert (first["type"], first["widgets_values"]) != (second["type"], second["widgets_values"])
    assert {first["type"], second["type"]} <= {"LoadImage", "EmptyImage"}
    files = [n["widgets_values"][0] for n in workflow["nodes"] if n["type"] == "LoadImage"]
    assert len(files) == len(set(files))  # never the same file twice
    assert second["type"] != "EmptyImage" or second["widgets_values"][3] not in (0, 0xFFFFFF)  # a real colour


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_the_endpoint_id_is_pointed_out(path: Path):
    """The one thing to fill in: a note in its own colour (notes are yellow by default, #653) right above each
    node whose endpoint_id the run uses (the Friendli Endpoint node when one is linked; else every node that
    sends requests, e.g. a generation endpoint and an edit endpoint), naming endpoint_id; that field is left
    empty in the file."""
    workflow = load(path)
    nodes = workflow["nodes"]
    targets = [n for n in nodes if n["type"] == "FriendliEndpoint"] or [n for n in nodes if n["type"] in RUN_NODES]
    notes = [n for n in nodes if n["type"] in NOTES and "endpoint_id" in n["widgets_values"][0]]
    assert targets and len(notes) == len(targets)
    others = {n.get("bgcolor", "#653") for n in nodes if n["type"] in NOTES and n not in notes}
    assert len({n.get("bgcolor", "#653") for n in notes}) == 1  # one colour for "fill this in"
    for target in targets:
        assert target["widgets_values"][1] == ""  # endpoint_id, second widget of every Friendli node
        [note] = [n for n in notes if n["pos"][0] < target["pos"][0] + target["size"][0]
                  and target["pos"][0] < n["pos"][0] + n["size"][0]]  # in its column
        assert note.get("bgcolor", "#653") not in others | {"#653"}
        gap = (target["pos"][1] - TITLE_HEIGHT) - (note["pos"][1] + note["size"][1])
        assert 0 <= gap <= 80, gap  # just above it


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_the_saved_view_shows_every_node(path: Path):
    """extra.ds (screen = (graph position + offset) * scale) puts every node, title bar included, inside the
    canvas, below the workflow tabs that lie over its top, at a readable scale, with no node overlapping another."""
    workflow = load(path)
    view = workflow["extra"]["ds"]
    scale, (dx, dy) = view["scale"], view["offset"]
    assert 0.75 <= scale <= 1.0
    boxes = []
    for node in workflow["nodes"]:
        (x, y), (w, h) = node["pos"], node["size"]
        box = (x, y - TITLE_HEIGHT, x + w, y + h)
        left, top = (box[0] + dx) * scale, (box[1] + dy) * scale
        right, bottom = (box[2] + dx) * scale, (box[3] + dy) * scale
        name = node.get("title") or node["type"]
        assert MARGIN <= left and right <= VIEW[0] - MARGIN, f"{name}: x {left:.0f}..{right:.0f}"
        assert TAB_BAR + MARGIN <= top and bottom <= VIEW[1] - MARGIN, f"{name}: y {top:.0f}..{bottom:.0f}"
        boxes.append((name, box))
    for i, (a, (ax0, ay0, ax1, ay1)) in enumerate(boxes):
        for b, (bx0, by0, bx1, by1) in boxes[i + 1:]:
            assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0, f"{a} overlaps {b}"


def test_the_generate_example_goes_from_text_to_friendli_then_local_then_friendli_edit(pack):
    """Text -> Friendli Image Generate (no picture in) -> a core node of every supported ComfyUI (0.3.30+) ->
    Friendli Image Edit -> Preview Image; the generated picture is previewed too, so the first run shows both."""
    workflow = load(ROOT / "example_workflows" / f"{GENERATE_EDIT}.json")
    nodes = workflow["nodes"]
    [generate] = [n for n in nodes if n["type"] == "FriendliImageGenerate"]
    [edit] = [n for n in nodes if n["type"] == "FriendliImageEdit"]
    assert generate["widgets_values"][0].strip() and edit["widgets_values"][0].strip()  # both prompts written
    assert all(slot["link"] is None for slot in generate["inputs"])  # text only: no control image, no endpoint node
    local = origin(workflow, edit, "image")
    assert local["type"] in CORE and not local["type"].startswith("Friendli")
    assert origin(workflow, local, "image")["id"] == generate["id"]
    previewed = {origin(workflow, n, "images")["id"] for n in nodes if n["type"] == "PreviewImage"}
    assert previewed == {generate["id"], edit["id"]}
    names = [name for name, _ in widget_names(input_types(pack)["FriendliImageGenerate"])]
    assert len(generate["widgets_values"]) > names.index("on_failure")  # its optional widgets stored too, in order
    assert generate["widgets_values"][11] == 1  # count: the first run generates one image
