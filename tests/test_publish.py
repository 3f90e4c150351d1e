"""What `comfy node publish` ships: the git-tracked files minus `.comfyignore`, zipped as comfy-cli zips them.

The registry scans what it is sent, so the archive holds no test, no fake key, no compressed blob; it is small;
and, extracted into a folder, it loads as ComfyUI loads a pack and edits against the emulator it carries
(the opt-in test does the same inside a real ComfyUI). Skipped outside a git checkout.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import re
import shutil
import subprocess
import sys
import tomllib
import warnings
import zipfile
from pathlib import Path

import pytest

from helpers import ROOT, TOKEN, load_pack, photo, tensor

pathspec = pytest.importorskip("pathspec")

MAX_ZIP_BYTES = 512 * 1024  # comfy-cli's node.zip: 0.35 MB (Dec 2026); every tracked file zipped: 0.83 MB
MAX_RAW_BYTES = 1280 * 1024  # 0.78 MB unpacked; tests/ alone are 0.53 MB, docs/ 0.27 MB
MAX_DEFLATE_RATIO = 20  # a text file compresses 3-8x; a bomb 1000x
MAX_IMAGE_PIXELS = 4 * 1024 * 1024
ARCHIVE_MAGIC = {b"\x1f\x8b": "gzip", b"PK\x03\x04": "zip", b"BZh": "bzip2", b"\xfd7zXZ": "xz",
                 b"\x28\xb5\x2f\xfd": "zstd", b"7z\xbc\xaf": "7z", b"Rar!": "rar",
                 b"\x78\x01": "zlib", b"\x78\x5e": "zlib", b"\x78\x9c": "zlib", b"\x78\xda": "zlib"}
DEV_ONLY = ("tests/", "benchmarks/", ".ci/", "docs/", "example_workflows/make_thumbnails.py", ".gitignore",
            ".comfyignore")


def git_tracked() -> list[str]:
    git = shutil.which("git")
    if not git:
        pytest.skip("git is not installed: the published set is the git-tracked files")
    run = subprocess.run([git, "-C", str(ROOT), "ls-files", "-z"], capture_output=True, text=True)
    if run.returncode != 0 or not run.stdout:
        pytest.skip("not a git checkout: the published set is the git-tracked files")
    return [p for p in run.stdout.split("\0") if p]


def comfyignore_spec():
    """comfy-cli 1.23's reading of .comfyignore (file_utils._load_comfyignore_spec): stripped lines, no
    comments, pathspec's gitwildmatch (deprecated in pathspec 1.x, still what comfy-cli calls)."""
    lines = [line.strip() for line in (ROOT / ".comfyignore").read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return pathspec.PathSpec.from_lines("gitwildmatch", lines)


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """(the shipped paths, node.zip, the zip extracted as custom_nodes/comfyui-friendli)."""
    tracked = git_tracked()
    spec = comfyignore_spec()
    includes = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["comfy"].get("includes", [])
    shipped = sorted(p for p in tracked if (ROOT / p).is_file()
                     and (not spec.match_file(p) or any(p.startswith(i.strip("/") + "/") for i in includes)))
    base = tmp_path_factory.mktemp("publish")
    archive = base / "node.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:  # as comfy-cli's zip_files writes it
        for path in shipped:
            zf.write(ROOT / path, path)
    folder = base / "custom_nodes" / "comfyui-friendli"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(folder)
    return shipped, archive, folder


def test_the_published_set_holds_the_runtime_and_nothing_of_the_tests(published):
    shipped, _, _ = published
    git = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-ci", "--exclude-from=.comfyignore"],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert set(git_tracked()) - set(git) >= set(shipped)  # git reads .comfyignore the same way
    assert not [p for p in shipped if p.startswith(("tests/", "benchmarks/", ".ci/"))
                or re.search(r"(^|/)(test_[^/]*\.py|conftest\.py|[^/]*\.mjs)$", p)]
    left_out = set(git_tracked()) - set(shipped)
    assert all(p.startswith(DEV_ONLY) for p in left_out), sorted(p for p in left_out if not p.startswith(DEV_ONLY))
    runtime = {"__init__.py", "pyproject.toml", "requirements.txt", "LICENSE", "README.md", "client/data/sample.png"}
    for pattern in ("client/*.py", "nodes/*.py", "cli/*.py", "emulator/*.py", "web/*.js", "web/*.css",
                    "web/docs/*.md", "locales/*/*.json", "example_workflows/*.json", "example_workflows/*.jpg"):
        runtime |= {p.relative_to(ROOT).as_posix() for p in ROOT.glob(pattern)}
    assert runtime & set(git_tracked()) <= set(shipped)


def canaries() -> set[str]:
    """The fake keys and secret markers the tests use (string literals in tests/*.py)."""
    found = set()
    for source in (ROOT / "tests").glob("*.py"):
        for literal in re.findall(r"""["']([^"'\n]{6,80})["']""", source.read_text(encoding="utf-8")):
            if re.fullmatch(r"flp_[\w-]{6,}|[\w-]*SECRET[\w-]*", literal) and len(literal) >= 8:
                found.add(literal)
    return found


def test_no_fake_key_secret_marker_or_scanner_bait(published):
    shipped, _, folder = published
    marks = canaries() | {TOKEN}
    assert len(marks) >= 3  # helpers.TOKEN, ROUTE_TOKEN, ROUTE_OTHER at least
    key_like = re.compile(rb"flp_[A-Za-z0-9_-]{8,}|-----BEGIN [A-Z ]*PRIVATE KEY|AKIA[0-9A-Z]{16}|sk-[A-Za-z0-9]{20,}")
    for path in shipped:
        data = (folder / path).read_bytes()
        assert not [m for m in marks if m.encode() in data], path
        assert not key_like.search(data), (path, key_like.search(data))
    for path in (p for p in shipped if p.endswith(".py")):  # comfy-cli validate's ruff S102, S307, E702
        tree = ast.parse((folder / path).read_text(encoding="utf-8"), path)
        calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert not calls & {"eval", "exec"}, path
        for node in ast.walk(tree):
            body = [s for field in ("body", "orelse", "finalbody", "handlers") if isinstance(getattr(node, field, 0), list)
                    for s in getattr(node, field) if isinstance(s, ast.stmt)]
            lines = [s.lineno for s in body]
            assert len(lines) == len(set(lines)), f"{path}: two statements on one line"
        imports = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                   for a in getattr(n, "names", [])} | {n.module.split(".")[0] for n in ast.walk(tree)
                                                       if isinstance(n, ast.ImportFrom) and n.module}
        assert "subprocess" not in imports, f"{path}: no subprocess at runtime (registry rule: no pip from code)"


def test_no_compression_bomb_and_small(published):
    from PIL import Image

    shipped, archive, folder = published
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        assert sorted(m.filename for m in members) == shipped
        ratios = {m.filename: m.file_size / max(m.compress_size, 1) for m in members}
    worst = max(ratios, key=ratios.get)
    assert ratios[worst] <= MAX_DEFLATE_RATIO, (worst, ratios[worst])
    for path in shipped:
        head = (folder / path).read_bytes()[:8]
        assert not [kind for magic, kind in ARCHIVE_MAGIC.items() if head.startswith(magic)], path
        if path.endswith((".png", ".jpg", ".jpeg", ".webp", ".gif")):
            with Image.open(folder / path) as image:  # reads the header only
                assert image.width * image.height <= MAX_IMAGE_PIXELS, (path, image.size)
    raw = sum((folder / p).stat().st_size for p in shipped)
    assert archive.stat().st_size <= MAX_ZIP_BYTES and raw <= MAX_RAW_BYTES, (archive.stat().st_size, raw)


def test_the_extracted_pack_loads_by_folder_and_edits_against_its_own_emulator(published, monkeypatch):
    _, _, folder = published
    pack = load_pack(root=folder)
    assert {"FriendliImageEdit", "FriendliMultiImageEdit", "FriendliImageGenerate", "FriendliEndpoint"} <= set(
        pack.NODE_CLASS_MAPPINGS)
    edit = importlib.import_module(pack.__name__ + ".nodes.edit")
    emulator_module = importlib.import_module(pack.__name__ + ".emulator")
    loaded = [Path(m.__file__) for n, m in list(sys.modules.items())
              if n.startswith(pack.__name__) and getattr(m, "__file__", None)]
    assert loaded and all(folder in p.parents for p in loaded)  # nothing came from the checkout
    with emulator_module.Emulator(token=TOKEN) as emulator:
        monkeypatch.setenv("FRIENDLI_TOKEN", TOKEN)
        monkeypatch.setenv("FRIENDLI_BASE_URL", emulator.base_url)
        image, seeds = asyncio.run(edit.FriendliImageEdit().edit(
            tensor(photo(32, 24)), "make it blue", endpoint_id="test-endpoint", num_inference_steps=20,
            guidance_scale=-1.0, seed=7, response_format="png"))[:2]
        assert len(emulator.requests) == 1 and emulator.requests[0].body["prompt"] == "make it blue"
    assert tuple(image.shape) == (1, 24, 32, 3) and seeds == "7"


def test_the_extracted_demo_runs_in_a_fresh_process(published, tmp_path):
    """friendli-edit --demo from the extracted folder alone: its sample image and emulator are shipped."""
    _, _, folder = published
    code = ("import importlib.util, sys\n"
            f"spec = importlib.util.spec_from_file_location('pk', {str(folder / '__init__.py')!r}, "
            f"submodule_search_locations=[{str(folder)!r}])\n"
            "pk = importlib.util.module_from_spec(spec); sys.modules['pk'] = pk; spec.loader.exec_module(pk)\n"
            "import pk.cli\n"
            f"sys.exit(pk.cli.main(['--demo', '--quiet', '--out', {str(tmp_path / 'demo.png')!r}]))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    from PIL import Image

    with Image.open(tmp_path / "demo.png") as result:
        assert result.size[0] > 0 and result.format == "PNG"


def test_the_extracted_pack_edits_in_a_real_comfyui(published, tmp_path, emulator):
    """Opt-in (COMFYUI_PATH): the extracted archive as ComfyUI's custom_nodes/comfyui-friendli runs an edit."""
    from comfyui_process import COMFYUI_PATH, HEIGHT, SKIP_REASON, WIDTH, running_host

    if not (COMFYUI_PATH and (Path(COMFYUI_PATH) / "main.py").is_file()):
        pytest.skip(SKIP_REASON)
    pytest.importorskip("aiohttp")
    _, _, folder = published
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
        "2": {"class_type": "FriendliImageEdit", "inputs": {
            "image": ["1", 0], "prompt": "make it night", "endpoint_id": "test-endpoint", "num_inference_steps": 20,
            "guidance_scale": -1.0, "seed": 5, "response_format": "png"}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "published"}},
    }
    with running_host(tmp_path / "comfy", emulator.base_url, pack=folder) as host:
        result = host.run(prompt)
        log = host.log.read_text()
    assert result["history"]["status"]["status_str"] == "success", result["history"]["status"]
    assert len(emulator.requests) == 1 and emulator.requests[0].body["seed"] == 5
    [saved] = result["history"]["outputs"]["3"]["images"]
    from PIL import Image

    with Image.open(host.base / saved["type"] / saved["subfolder"] / saved["filename"]) as png:
        assert png.size == (WIDTH, HEIGHT)
    [line] = [l for l in log.splitlines() if l.endswith("custom_nodes/comfyui-friendli")]  # the import-times line
    assert "IMPORT FAILED" not in line  # (0.3.30 without torchaudio fails its own nodes_audio.py; not ours)


def test_registry_metadata_follows_the_specification():
    """docs.comfy.org/registry/specifications (2026): name, X.Y.Z version, Repository, [tool.comfy] PublisherId,
    DisplayName, a square Icon of at most 400 px, a 21:9 Banner, requires-comfyui as a version specifier.
    Skipped outside a git checkout (the pictures are served from the repository, so they must be tracked)."""
    from packaging.specifiers import SpecifierSet
    from PIL import Image

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project, comfy = data["project"], data["tool"]["comfy"]
    assert re.fullmatch(r"[A-Za-z](?:[A-Za-z0-9]|[-_.](?=[A-Za-z0-9]))*", project["name"]) and len(project["name"]) < 100
    assert re.fullmatch(r"\d+\.\d+\.\d+", project["version"])
    assert project["license"] == "MIT" and "OS Independent" in " ".join(project["classifiers"])
    assert "edit" in project["description"] and "generate" in project["description"]
    repository = project["urls"]["Repository"]
    assert repository.startswith("https://github.com/") and comfy["PublisherId"]
    assert "Edit" in comfy["DisplayName"] and "Generate" in comfy["DisplayName"]
    assert comfy["DisplayName"] in (ROOT / "README.md").read_text()  # what to search for in the Manager
    raw = repository.replace("https://github.com/", "https://raw.githubusercontent.com/") + "/main/"
    assert comfy["Icon"].startswith(raw) and comfy["Banner"].startswith(raw)
    tracked = set(git_tracked())
    for field, fits in (("Icon", lambda w, h: w == h <= 400), ("Banner", lambda w, h: w * 9 == h * 21)):
        picture = comfy[field].removeprefix(raw)
        assert picture in tracked, f"{field}: {picture} is served from GitHub, so it must be committed"
        with Image.open(ROOT / picture) as image:
            assert image.format == "PNG" and fits(*image.size), (field, image.size)
    SpecifierSet(comfy["requires-comfyui"])  # raises on a malformed specifier
    requirements = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
                    if line.strip() and not line.startswith("#")]
    assert requirements == project["dependencies"]  # the registry lists these; the Manager installs requirements.txt
    assert "0.3.30" in SpecifierSet(comfy["requires-comfyui"])
