"""Packaging promises: versions agree, no torch at runtime, CI runs the README's test command."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

from conftest import ROOT


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
            "import importlib.util\n"
            f"spec = importlib.util.spec_from_file_location('anyname', {str(ROOT / '__init__.py')!r}, "
            f"submodule_search_locations=[{str(ROOT)!r}])\n"
            "m = importlib.util.module_from_spec(spec); sys.modules['anyname'] = m; spec.loader.exec_module(m)\n"
            "import anyname.client\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n"
            "print(sorted(m.NODE_CLASS_MAPPINGS))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
