"""Shared helpers: load the pack as ComfyUI does, time things robustly, print tables."""

from __future__ import annotations

import importlib
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT / "tests"))
from packloader import load_pack  # noqa: E402,F401 - the one pack loader (by folder path), shared with the tests

TOKEN = "flp_benchmark-token"


def sub(pack: ModuleType, dotted: str) -> ModuleType:
    """A submodule of the loaded pack, e.g. sub(pack, "client.codec")."""
    return importlib.import_module(f"{pack.__name__}.{dotted}")


def best_of(fn: Callable[[], Any], reps: int) -> float:
    """The fastest of ``reps`` runs of fn(), in seconds (the least disturbed by other load)."""
    return timed(fn, reps)[0]


def timed(fn: Callable[[], Any], reps: int) -> tuple[float, Any]:
    """(the fastest of ``reps`` runs of fn() in seconds, the last result)."""
    best, result = float("inf"), None
    for _ in range(reps):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def verdict(ok: bool | None) -> str:
    return "—" if ok is None else "PASS" if ok else "FAIL"


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table (readable in a terminal too)."""
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = lambda items: "| " + " | ".join(s.ljust(w) for s, w in zip(items, widths)) + " |"  # noqa: E731
    out = [f"**{title}**", "", line(headers), "| " + " | ".join("-" * w for w in widths) + " |"]
    return "\n".join(out + [line(r) for r in cells])


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)
