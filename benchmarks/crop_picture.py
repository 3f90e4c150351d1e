"""docs/crop.png, README's picture of crop to mask: before | mask | after.

The crop section's 6000 x 4000 photo and 3 % mask (crop_bench.photo, crop_bench.mask) go through
FriendliImageEdit with mask_mode "crop to mask" (crop_megapixels 1) against the pack's emulator, whose
stand-in edit (a tint with faint stripes, not a model) plays the model. The three panels are scaled
down to PANEL_WIDTH; the mask panel also outlines the box that was cropped and sent. Saved as a
256-colour PNG (README images stay small).

    python benchmarks/crop_picture.py            # writes docs/crop.png
    python benchmarks/crop_picture.py --out x.png
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import crop_bench  # noqa: E402
import node_bench  # noqa: E402
from common import TOKEN, sub  # noqa: E402

PANEL_WIDTH = 560
GAP = 12
LABEL_HEIGHT = 30


def edit(width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int, int, int], list]:
    """(original, mask, result) as uint8 / float arrays, the box sent (top, left, bottom, right) and the size
    the emulator received (width, height)."""
    original, area = crop_bench.photo(width, height), crop_bench.mask(width, height)
    from common import load_pack
    from emulator_proc import summary

    emulator_module = sub(load_pack(), "emulator")
    with emulator_module.Emulator(token=TOKEN, endpoints=("bench",)) as emulator:
        torch, (pack, node) = node_bench._setup(emulator.base_url)
        image = torch.from_numpy(original).to(torch.float32).div_(255)[None]
        mask_t = torch.from_numpy(area)[None]
        result = node_bench._call_node(node, image, 1, prompt=crop_bench.PROMPT, seed=crop_bench.SEED, mask=mask_t,
                                       mask_mode="crop to mask", crop_megapixels=1.0, crop_context=0.25)
        output = (asyncio.run(result) if inspect.iscoroutine(result) else result)[0]
        sent = summary(emulator.requests[-1])["images"][0]["size"]
    box = sub(pack, "nodes.crop").crop_box(mask_t[0], 0.25)
    after = (output[0].numpy() * 255).round().clip(0, 255).astype(np.uint8)
    return original, area, after, tuple(box), sent


def picture(original: np.ndarray, area: np.ndarray, after: np.ndarray, box: tuple[int, int, int, int],
            sent: list) -> "Image.Image":  # noqa: F821
    from PIL import Image, ImageDraw, ImageFont

    height, width = original.shape[:2]
    scale = PANEL_WIDTH / width
    size = (PANEL_WIDTH, round(height * scale))

    def panel(array: np.ndarray) -> Image.Image:
        return Image.fromarray(array).resize(size, Image.Resampling.LANCZOS)

    mask_panel = panel((area * 255).astype(np.uint8)).convert("RGB")
    top, left, bottom, right = box
    ImageDraw.Draw(mask_panel).rectangle([round(left * scale), round(top * scale), round(right * scale) - 1,
                                          round(bottom * scale) - 1], outline=(255, 160, 0), width=2)
    share = 100 * float(area.mean())
    panels = [(panel(original), f"before: {width} x {height}"),
              (mask_panel, f"mask: {share:.0f} % of the frame; box: the crop sent"),
              (panel(after), f"after: crop to mask ({sent[0]} x {sent[1]} sent), stand-in edit")]
    font = ImageFont.load_default(size=17)
    sheet = Image.new("RGB", (3 * size[0] + 4 * GAP, size[1] + LABEL_HEIGHT + 2 * GAP), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (image, label) in enumerate(panels):
        x = GAP + i * (size[0] + GAP)
        draw.text((x, GAP + 2), label, fill=(20, 20, 20), font=font)
        sheet.paste(image, (x, GAP + LABEL_HEIGHT))
    return sheet.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE.parent / "docs" / "crop.png")
    args = parser.parse_args(argv)
    width, height = crop_bench.SIZE
    sheet = picture(*edit(width, height))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, optimize=True)
    print(f"wrote {args.out}: {sheet.size[0]} × {sheet.size[1]}, {args.out.stat().st_size / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
