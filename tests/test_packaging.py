"""Packaging promises: versions agree, no torch at runtime, CI runs the README's test command."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

from helpers import ROOT
from packloader import child_code


def test_versions_agree_and_torch_is_not_a_runtime_dependency(pack):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == pack.__version__
    assert not any(dep.lower().startswith("torch") for dep in project["dependencies"])
    requirements = [re.split(r"[<>=~ ]", line)[0].lower() for line in (ROOT / "requirements.txt").read_text().splitlines()
                    if line.strip() and not line.startswith("#")]
    assert requirements and "torch" not in requirements


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, re.S)
    test_command = next(b for b in blocks if "pytest" in b)
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()


def test_client_imports_without_torch_or_network():
    code = ("import sys, socket\n"
            "socket.socket.connect = lambda *a: (_ for _ in ()).throw(AssertionError('network at import'))\n"
            f"sys.path.insert(0, {str(ROOT.parent)!r})\n"
            + child_code("anyname") +
            "import anyname.client\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n"
            "print(sorted(anyname.NODE_CLASS_MAPPINGS))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr


def test_the_wheel_holds_exactly_the_runtime_files(tmp_path):
    """Build the wheel and compare its files with the runtime tree. The build runs on a copy without build/
    and *.egg-info: setuptools puts whatever a stale build/lib holds (files since deleted, e.g.
    web/tests/*.mjs) into the wheel, and the checkout stays as it was. It uses the setuptools the test extra
    installs (--no-isolation; build still checks it meets [build-system] requires): an isolated build would
    install setuptools into a fresh venv first, ~15 s of the suite for the same wheel."""
    import shutil
    import zipfile

    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__",
                                                                ".ruff_cache", "node_modules", ".venv", "results", ".cache"))
    run = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path),
                          str(source)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    wheel, = tmp_path.glob("comfyui_friendli-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    packaged = {n for n in names if not n.startswith("comfyui_friendli-")}
    expected = {"comfyui_friendli/__init__.py", "comfyui_friendli/LICENSE"}
    for package in ("client", "nodes", "cli", "emulator"):
        expected |= {f"comfyui_friendli/{p.relative_to(ROOT).as_posix()}" for p in (ROOT / package).glob("*.py")}
    for pattern in ("web/*.js", "web/*.css", "web/docs/*.md", "locales/*/*.json", "example_workflows/*.json",
                    "example_workflows/*.jpg", "client/data/*"):
        expected |= {f"comfyui_friendli/{p.relative_to(ROOT).as_posix()}" for p in ROOT.glob(pattern)}
    assert packaged == expected
    assert not [n for n in names if "/tests/" in n or "benchmarks/" in n or n.endswith(".mjs")]
    metadata = next(zipfile.ZipFile(wheel).read(n).decode() for n in names if n.endswith("METADATA"))
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert "Requires-Dist: urllib3>=2.6" in requires
    assert all("extra ==" in line for line in requires if "torch" in line)  # torch only in the test extra
    entry_points = next(zipfile.ZipFile(wheel).read(n).decode() for n in names if n.endswith("entry_points.txt"))
    assert "friendli-edit = comfyui_friendli.cli:main" in entry_points
    assert "friendli-generate = comfyui_friendli.cli:generate_main" in entry_points
