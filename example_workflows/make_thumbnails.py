"""Draw the template browser's thumbnails: `<workflow name>.jpg` beside each `<workflow name>.json`.

ComfyUI's frontend (1.27 up to at least 1.58) shows a custom-node template with the thumbnail
`/api/workflow_templates/<pack folder>/<workflow name>.jpg`, which the server serves from this folder,
in a square box. Each picture is a before -> after illustration of what its workflow does, drawn here
with Pillow (a stand-in scene in the spirit of ComfyUI's input/example.png, which the workflows load;
the "after" side is an illustration, not a real endpoint result). Run again after changing a workflow:

    python example_workflows/make_thumbnails.py
"""

from __future__ import annotations

import random
import textwrap
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageEnhance, ImageFilter, ImageFont

HERE = Path(__file__).resolve().parent
SIZE = 512  # shown in a 256 px square (1.27) or a card about as wide (1.58): 2x for sharp HiDPI screens
SUPER = 2  # shapes are drawn at SIZE * SUPER and scaled down, for smooth edges

SKY, GROUND, CLOUD = (92, 150, 250), (98, 222, 96), (255, 255, 255)
SKIN, HAIR, HAIR_LIGHT = (250, 240, 230), (250, 232, 110), (248, 242, 170)
DRESS, EYES = (250, 168, 212), (40, 96, 222)
SWATCH = (0xE8, 0x70, 0x2A)  # the colour of the Empty Image swatch in the multi-image example
CAPTION_PAD = 22
ABOVE_CAPTION = SIZE - CAPTION_PAD - 2 * 31 - 22  # labels sit just above a two-line caption
# 1.58 lays a "Node graph" badge over a thumbnail's top-left corner (about 220 x 56 px at this size): keep
# labels out of it.


def font(size: int, bold: bool = False) -> ImageFont.ImageFont:
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for folder in ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/Library/Fonts", "C:/Windows/Fonts"):
        path = Path(folder) / name
        if path.is_file():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


def scene(size: int = SIZE) -> tuple[Image.Image, dict[str, Image.Image]]:
    """A girl in a pink dress on a green hill under a blue sky, and a mask ("L") of each part."""
    s = size * SUPER
    layers = {name: Image.new("L", (s, s), 0) for name in ("sky", "cloud", "ground", "figure", "dress")}

    def p(*xy: float) -> list[float]:
        return [v * s for v in xy]

    def f(*xy: float) -> list[float]:  # the girl: 80 % high, lifted above the caption band
        return [(0.5 + (v - 0.5) * 0.8 if i % 2 == 0 else 0.03 + v * 0.8) * s for i, v in enumerate(xy)]

    layers["sky"].paste(255, (0, 0, s, s))
    cloud = ImageDraw.Draw(layers["cloud"])
    for cx, cy in ((0.16, 0.09), (0.80, 0.09)):
        for dx, dy, r in ((-0.07, 0.01, 0.045), (0.0, -0.01, 0.06), (0.07, 0.015, 0.045)):
            cloud.ellipse(p(cx + dx - r, cy + dy - r * 0.8, cx + dx + r, cy + dy + r * 0.8), fill=255)
    ground = ImageDraw.Draw(layers["ground"])
    ground.ellipse(p(-0.35, 0.52, 0.75, 1.6), fill=255)
    ground.ellipse(p(0.30, 0.55, 1.45, 1.7), fill=255)
    figure = ImageDraw.Draw(layers["figure"])
    figure.line(f(0.27, 0.47, 0.73, 0.47), fill=255, width=int(0.04 * s))  # arms
    for x in (0.27, 0.73):
        figure.ellipse(f(x - 0.025, 0.445, x + 0.025, 0.495), fill=255)
    for x in (0.43, 0.55):  # legs
        figure.rounded_rectangle(f(x, 0.78, x + 0.05, 0.97), radius=0.016 * s, fill=255)
    figure.rectangle(f(0.475, 0.36, 0.525, 0.45), fill=255)  # neck
    figure.ellipse(f(0.415, 0.25, 0.585, 0.41), fill=255)  # head
    for side in (-1, 1):  # hair: two wide wings, as in the example picture
        figure.polygon(f(0.5 + side * 0.05, 0.27, 0.5 + side * 0.29, 0.11, 0.5 + side * 0.22, 0.40,
                         0.5 + side * 0.09, 0.36), fill=255)
    dress = ImageDraw.Draw(layers["dress"])
    dress.polygon(f(0.42, 0.43, 0.58, 0.43, 0.64, 0.83, 0.36, 0.83), fill=255)
    dress.rounded_rectangle(f(0.415, 0.42, 0.585, 0.50), radius=0.016 * s, fill=255)
    layers["figure"] = ImageChops.lighter(layers["figure"], layers["dress"])

    image = Image.new("RGB", (s, s), SKY)
    image.paste(CLOUD, mask=layers["cloud"])
    image.paste(GROUND, mask=layers["ground"])
    body = Image.new("RGB", (s, s), SKIN)
    draw = ImageDraw.Draw(body)
    for side in (-1, 1):
        draw.polygon(f(0.5 + side * 0.05, 0.27, 0.5 + side * 0.29, 0.11, 0.5 + side * 0.22, 0.40,
                       0.5 + side * 0.09, 0.36), fill=HAIR)
        draw.polygon(f(0.5 + side * 0.10, 0.25, 0.5 + side * 0.23, 0.15, 0.5 + side * 0.18, 0.31), fill=HAIR_LIGHT)
        draw.ellipse(f(0.5 + side * 0.035 - 0.025, 0.30, 0.5 + side * 0.035 + 0.025, 0.335), fill=EYES)
    draw.arc(f(0.47, 0.33, 0.53, 0.375), 20, 160, fill=(20, 20, 20), width=int(0.005 * s))
    body.paste(DRESS, mask=layers["dress"])
    image.paste(body, mask=layers["figure"])
    small = {name: mask.resize((size, size), Image.LANCZOS) for name, mask in layers.items()}
    return image.resize((size, size), Image.LANCZOS), small


def winter_evening(image: Image.Image, masks: dict[str, Image.Image]) -> Image.Image:
    size = image.width
    sky = Image.linear_gradient("L").resize((size, size))
    night = Image.merge("RGB", [sky.point(lambda v: 28 + v * 0.35), sky.point(lambda v: 30 + v * 0.22),
                                sky.point(lambda v: 72 + v * 0.30)])
    out = night.copy()
    out.paste((120, 126, 160), mask=masks["cloud"])
    snow = Image.linear_gradient("L").resize((size, size)).point(lambda v: 200 + v * 0.2)
    out.paste(Image.merge("RGB", [snow.point(lambda v: v - 8), snow.point(lambda v: v - 2), snow.point(lambda v: v + 30)]),
              mask=masks["ground"])
    lit = Image.blend(image, Image.new("RGB", image.size, (60, 70, 140)), 0.28)
    out.paste(lit, mask=masks["figure"])
    draw = ImageDraw.Draw(out)
    draw.ellipse((size * 0.80, size * 0.07, size * 0.90, size * 0.17), fill=(250, 246, 220))  # moon
    rng = random.Random(3)
    for _ in range(140):  # falling snow
        x, y, r = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(0.8, 2.4) * size / 512
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(255, 255, 255))
    return out


def watercolor(image: Image.Image, seed: int) -> Image.Image:
    """Uneven washes on warm paper with darker pigment edges; the seed varies the washes' blotches."""
    rng = random.Random(seed)
    w, h = image.size

    def noise(nw: int, nh: int) -> Image.Image:
        return Image.frombytes("L", (nw, nh), rng.randbytes(nw * nh))

    wash = ImageEnhance.Color(image.filter(ImageFilter.GaussianBlur(2.5))).enhance(1.35)
    blotches = [noise(w // 12 + 1, h // 12 + 1).resize((w, h), Image.BICUBIC).filter(ImageFilter.GaussianBlur(4))
                .point(lambda v: 196 + v // 4) for _ in range(3)]
    wash = ImageChops.multiply(wash, Image.merge("RGB", blotches))
    wash = Image.blend(wash, Image.new("RGB", image.size, (246, 236, 214)), 0.22)
    edges = image.convert("L").filter(ImageFilter.FIND_EDGES).filter(ImageFilter.GaussianBlur(0.9))
    edges = ImageChops.offset(edges, 1, 1).point(lambda v: min(255, v * 4))
    wash.paste(ImageChops.multiply(wash, Image.new("RGB", image.size, (120, 105, 120))), mask=edges)
    grain = noise(w, h).filter(ImageFilter.GaussianBlur(0.6)).point(lambda v: 200 + v // 5)
    return ImageChops.multiply(wash, Image.merge("RGB", [grain] * 3))


def recolor_dress(image: Image.Image, masks: dict[str, Image.Image], color: tuple[int, int, int]) -> Image.Image:
    shade = image.convert("L").point(lambda v: min(255, v + 40))
    tinted = ImageChops.multiply(Image.new("RGB", image.size, color), Image.merge("RGB", [shade] * 3))
    out = image.copy()
    out.paste(tinted, mask=masks["dress"])
    return out


def pill(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str, size: int = 21, anchor: str = "la") -> None:
    face = font(size, bold=True)
    left, top, right, bottom = draw.textbbox(xy, text, font=face, anchor=anchor)
    draw.rounded_rectangle((left - 10, top - 6, right + 10, bottom + 7), radius=12, fill=(20, 22, 30, 190))
    draw.text(xy, text, font=face, fill=(255, 255, 255), anchor=anchor)


def caption(image: Image.Image, text: str) -> Image.Image:
    """A dark band at the bottom with the workflow's prompt, so the picture says what was asked."""
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    face = font(25)
    lines = textwrap.wrap(f"\u201c{text}\u201d", 33)[:2]
    height = CAPTION_PAD + 31 * len(lines)
    draw.rectangle((0, image.height - height, image.width, image.height), fill=(16, 18, 26, 205))
    for i, line in enumerate(lines):
        draw.text((18, image.height - height + 12 + 31 * i), line, font=face, fill=(245, 245, 250))
    return Image.alpha_composite(image.convert("RGBA"), layer)


def edit_thumbnail() -> Image.Image:
    before, masks = scene()
    after = winter_evening(before, masks)
    out = before.copy()
    half = SIZE // 2
    out.paste(after.crop((half, 0, SIZE, SIZE)), (half, 0))
    out = out.convert("RGBA")
    draw = ImageDraw.Draw(out)
    draw.rectangle((half - 2, 0, half + 2, SIZE), fill=(255, 255, 255))
    draw.ellipse((half - 20, 300 - 20, half + 20, 300 + 20), fill=(255, 255, 255), outline=(30, 30, 40), width=2)
    draw.polygon([(half - 12, 300), (half - 4, 292), (half - 4, 308)], fill=(30, 30, 40))
    draw.polygon([(half + 12, 300), (half + 4, 292), (half + 4, 308)], fill=(30, 30, 40))
    out = caption(out, "Turn the scene into a snowy winter evening")
    draw = ImageDraw.Draw(out, "RGBA")
    pill(draw, (18, ABOVE_CAPTION), "before", anchor="ls")
    pill(draw, (SIZE - 18, ABOVE_CAPTION), "after", anchor="rs")
    return out


def batch_thumbnail() -> Image.Image:
    before, _ = scene(248)
    out = Image.new("RGBA", (SIZE, SIZE), (34, 36, 44, 255))
    draw = ImageDraw.Draw(out, "RGBA")
    for i in range(4):
        tile = before.copy()
        tile.paste(watercolor(before, seed=i).crop((124, 0, 248, 248)), (124, 0))
        x, y = 6 + (i % 2) * 252, 6 + (i // 2) * 252
        out.paste(tile, (x, y))
        for dash in range(0, 248, 14):  # the mask's edge: left half kept, right half edited
            draw.line((x + 124, y + dash, x + 124, y + dash + 7), fill=(255, 255, 255, 230), width=2)
    out = caption(out, "Make the right side look like a watercolor painting")
    draw = ImageDraw.Draw(out, "RGBA")
    pill(draw, (SIZE - 18, ABOVE_CAPTION), "4 images \u00b7 mask: right half", size=19, anchor="rs")
    return out


def multi_thumbnail() -> Image.Image:
    before, masks = scene()
    out = recolor_dress(before, masks, SWATCH).convert("RGBA")
    draw = ImageDraw.Draw(out, "RGBA")
    x0 = SIZE - 268
    draw.rounded_rectangle((x0, 10, SIZE - 10, 128), radius=16, fill=(20, 22, 30, 200))
    out.paste(before.resize((96, 96), Image.LANCZOS), (x0 + 12, 22))
    draw.rectangle((x0 + 140, 22, x0 + 236, 118), fill=SWATCH)
    for left in (x0 + 12, x0 + 140):
        draw.rectangle((left, 22, left + 96, 118), outline=(255, 255, 255), width=2)
    draw.text((x0 + 124, 70), "+", font=font(30, bold=True), fill=(255, 255, 255), anchor="mm")
    for x, label in ((x0 + 20, "1"), (x0 + 148, "2")):
        draw.text((x, 26), label, font=font(20, bold=True), fill=(255, 255, 255), stroke_width=2,
                  stroke_fill=(20, 22, 30))
    out = caption(out, "Recolor the dress in image 1 with the color of image 2")
    draw = ImageDraw.Draw(out, "RGBA")
    pill(draw, (SIZE - 18, ABOVE_CAPTION), "after", anchor="rs")
    return out


def generate_edit_thumbnail() -> Image.Image:
    """Three steps left to right: the generated scene, the local upscale between, the edited scene."""
    generated, masks = scene()
    edited = winter_evening(generated, masks)
    out = generated.copy()
    half = SIZE // 2
    out.paste(edited.crop((half, 0, SIZE, SIZE)), (half, 0))
    out = out.convert("RGBA")
    draw = ImageDraw.Draw(out, "RGBA")
    draw.rectangle((half - 2, 0, half + 2, SIZE), fill=(255, 255, 255))
    draw.ellipse((half - 20, 300 - 20, half + 20, 300 + 20), fill=(255, 255, 255), outline=(30, 30, 40), width=2)
    draw.polygon([(half - 6, 290), (half + 8, 300), (half - 6, 310)], fill=(30, 30, 40))
    pill(draw, (half, 346), "local: upscale \u00d71.5", size=19, anchor="mm")  # the step between
    out = caption(out, "A girl on a green hill \u2192 a snowy winter evening")
    draw = ImageDraw.Draw(out, "RGBA")
    pill(draw, (18, ABOVE_CAPTION), "1 \u00b7 generate", anchor="ls")
    pill(draw, (SIZE - 18, ABOVE_CAPTION), "2 \u00b7 edit", anchor="rs")
    return out


THUMBNAILS = {
    "Friendli - Edit an image": edit_thumbnail,
    "Friendli - Masked batch edit": batch_thumbnail,
    "Friendli - Multi-image edit": multi_thumbnail,
    "Friendli - Generate then edit": generate_edit_thumbnail,
}


def main() -> None:
    for name, draw in THUMBNAILS.items():
        assert (HERE / f"{name}.json").is_file(), name
        draw().convert("RGB").save(HERE / f"{name}.jpg", "JPEG", quality=86, optimize=True, progressive=True)
        print(HERE / f"{name}.jpg")


if __name__ == "__main__":
    main()
