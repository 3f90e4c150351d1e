"""example_workflows/*.json: valid UI-format workflows whose widget values fit our nodes, with no secret.

tests/test_comfyui_host.py loads them into a real ComfyUI (checked against its /object_info) and runs them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import ROOT, is_widget, workflow_to_prompt

WORKFLOWS = sorted((ROOT / "example_workflows").glob("*.json"))
CONTROL_VALUES = {"fixed", "increment", "decrement", "randomize"}
# The core nodes the examples use, as ComfyUI 0.3.64 declares their inputs (nodes.py, comfy_extras/).
CORE = {
    "LoadImage": {"required": {"image": (["example.png"], {"image_upload": True})}},
    "SaveImage": {"required": {"images": ("IMAGE",), "filename_prefix": ("STRING", {"default": "ComfyUI"})}},
    "RepeatImageBatch": {"required": {"image": ("IMAGE",), "amount": ("INT", {"default": 1, "min": 1, "max": 4096})}},
    "SolidMask": {"required": {"value": ("FLOAT", {"min": 0.0, "max": 1.0}), "width": ("INT", {"min": 1}),
                               "height": ("INT", {"min": 1})}},
    "MaskComposite": {"required": {"destination": ("MASK",), "source": ("MASK",), "x": ("INT", {"min": 0}),
                                   "y": ("INT", {"min": 0}),
                                   "operation": (["multiply", "add", "subtract", "and", "or", "xor"],)}},
}


def input_types(pack) -> dict[str, dict]:
    return CORE | {name: cls.INPUT_TYPES() for name, cls in pack.NODE_CLASS_MAPPINGS.items()}


def test_the_required_examples_exist():
    names = {p.stem for p in WORKFLOWS}
    assert {"friendli_image_edit", "friendli_batch_mask_edit"} <= names


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
        if not node["class_type"].startswith("Friendli"):
            continue
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
