"""The one way tests and benchmarks load the pack: by folder path under any module name, as ComfyUI does.

Plain Python (no pytest), so benchmarks and child processes can import it too.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent


def load_pack(name: str | None = None, root: Path = ROOT) -> ModuleType:
    """Import the folder ``root`` (its __init__.py; default the repo root) as the package ``name`` (a fresh
    random name if None)."""
    name = name or f"custom_node_friendli_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, root / "__init__.py",
                                                  submodule_search_locations=[str(root)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def child_code(name: str = "pk") -> str:
    """Python source for a child process (``python -c``) that loads the pack as ``name``, bound to ``name``."""
    return (f"import sys; sys.path.insert(0, {str(HERE)!r}); import packloader; "
            f"{name} = packloader.load_pack({name!r})\n")
