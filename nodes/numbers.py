"""Run-time checks of every number a node receives, against its widget's own range.

ComfyUI's min/max check lets NaN through (every comparison with NaN is false) and the API format's JSON
allows NaN and Infinity; a library caller can pass anything. Each refusal names the widget and the range
and is raised before anything is sent, never as a Python repr."""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

from ..client.errors import FriendliInputError


def check(input_types: dict[str, Any], values: dict[str, Any]) -> None:
    """FriendliInputError for the first INT or FLOAT input of ``input_types`` (a node's INPUT_TYPES) whose
    value in ``values`` is not a finite number within its widget's min and max (a whole one for INT)."""
    for group in ("required", "optional"):
        for name, spec in input_types.get(group, {}).items():
            if spec[0] in ("INT", "FLOAT") and values.get(name) is not None:
                options = spec[1] if len(spec) > 1 else {}
                number(name, values[name], options.get("min"), options.get("max"), whole=spec[0] == "INT")


def number(widget: str, value: Any, low: float | None, high: float | None, *, whole: bool = False) -> None:
    """FriendliInputError naming ``widget`` unless ``value`` is a finite number from ``low`` to ``high``."""
    kind = "a whole number" if whole else "a number"
    span = f" from {_shown(low)} to {_shown(high)}" if low is not None and high is not None else ""
    if isinstance(value, bool) or not isinstance(value, Real):
        given = "text" if isinstance(value, str) else f"a {type(value).__name__} value"
        raise FriendliInputError(widget, f"is {given}; set it to {kind}{span}")
    if not isinstance(value, Integral):  # a whole number is finite (and may be too large for a float)
        value = float(value)
        if math.isnan(value):
            raise FriendliInputError(widget, f"is not a number (NaN); set it to {kind}{span}")
        if math.isinf(value):
            raise FriendliInputError(widget, f"is infinite; set it to {kind}{span}")
        if whole and not value.is_integer():
            raise FriendliInputError(widget, f"is {_shown(value)}; set it to {kind}{span}")
    if low is not None and value < low or high is not None and value > high:
        raise FriendliInputError(widget, f"is {_shown(value)}, outside its range; set it to {kind}{span}")


def _shown(value: Real) -> str:
    """12, 0.25, 4294967295: as the widget shows it."""
    if isinstance(value, Integral):
        text = str(int(value))
        return text if len(text) <= 20 else f"a {len(text)}-digit number"
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e16 else f"{float(value):g}"
