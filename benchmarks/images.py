"""Real test images: the RGB 1024x1024 WebP renders shipped in the comfyui-workflow-templates wheel (PyPI).

The wheel is fetched once with ``pip download`` into benchmarks/.cache (gitignored); its RGB
1024x1024 WebP files are unpacked next to it. 2048x2048 images are these, upscaled with Lanczos.
"""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

REQUIREMENT = "comfyui-workflow-templates==0.1.95"
CACHE = Path(__file__).resolve().parent / ".cache"
TEMPLATES = CACHE / "templates"
SOURCE = f"{REQUIREMENT} (PyPI): its RGB 1024x1024 WebP renders; 2048x2048 = those upscaled with Lanczos"


def template_files() -> list[Path]:
    """Paths of the RGB 1024x1024 WebP templates, fetching and unpacking the wheel on first use."""
    done = TEMPLATES / ".complete"
    if not done.exists():
        wheel = next(CACHE.glob("comfyui_workflow_templates-0.1.95-*.whl"), None)
        if wheel is None:
            print(f"fetching {REQUIREMENT} (about 85 MB) into {CACHE} ...", file=sys.stderr, flush=True)
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                            "--dest", str(CACHE), REQUIREMENT], check=True)
            wheel = next(CACHE.glob("comfyui_workflow_templates-0.1.95-*.whl"))
        TEMPLATES.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as archive:
            for name in archive.namelist():
                if "/templates/" in name and name.endswith(".webp"):
                    data = archive.read(name)
                    with Image.open(io.BytesIO(data)) as img:
                        if img.size == (1024, 1024) and img.mode == "RGB":
                            (TEMPLATES / Path(name).name).write_bytes(data)
        done.touch()
    return sorted(TEMPLATES.glob("*.webp"))


def synthetic(count: int, size: int) -> list[np.ndarray]:
    """Photo-like generated images (gradients + noise), for a run without network (tests)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size] * (255 / (size - 1))
    base = np.stack([x, y, (x + y) / 2], axis=-1)
    return [np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8) for _ in range(count)]


def load(count: int, size: int, synthetic_images: bool = False) -> list[np.ndarray]:
    """``count`` uint8 RGB images of size x size (1024: templates as they are; larger: Lanczos upscales)."""
    if synthetic_images:
        return synthetic(count, size)
    files = template_files()
    if len(files) < count:
        raise SystemExit(f"only {len(files)} RGB 1024x1024 templates found in {TEMPLATES}")
    images = []
    for path in files[:count]:
        with Image.open(path) as img:
            img = img.convert("RGB")
            if img.size != (size, size):
                img = img.resize((size, size), Image.Resampling.LANCZOS)
            images.append(np.asarray(img))
    return images
