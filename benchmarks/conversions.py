"""IMAGE tensor <-> uint8 array: the node's own functions (nodes/tensors.py), and lean numpy versions."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType

import numpy as np
import torch


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """First image of a [B,H,W,C] float 0..1 batch -> uint8 HxWxC, rounded; one float temporary, numpy only."""
    scaled = np.clip(image[0].detach().cpu().numpy(), 0.0, 1.0)
    np.multiply(scaled, 255.0, out=scaled)
    np.add(scaled, 0.5, out=scaled)
    return scaled.astype(np.uint8)


def to_tensor(array: np.ndarray) -> torch.Tensor:
    """uint8 HxWxC -> [1,H,W,C] float32 0..1; one allocation."""
    scaled = array.astype(np.float32)
    np.multiply(scaled, np.float32(1 / 255), out=scaled)
    return torch.from_numpy(scaled).unsqueeze(0)


def tensor_functions(pack: ModuleType) -> tuple[Callable, Callable, str]:
    """(to_uint8, to_tensor, where they come from)."""
    try:
        tensors = importlib.import_module(pack.__name__ + ".nodes.tensors")
        node_to_uint8, node_from_uint8 = tensors.to_rgb_uint8, tensors.from_uint8
    except (ImportError, AttributeError):
        return to_uint8, to_tensor, "benchmarks/conversions.py (nodes/tensors.py lacks them)"
    return (lambda image: node_to_uint8(image[0]), lambda array: node_from_uint8(array).unsqueeze(0),
            "nodes/tensors.py")
