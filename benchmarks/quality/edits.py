"""The named edits that turn a catalog photo into a labelled copy, grouped by class.

Every edit takes the photo and a numpy Generator and returns the copy's bytes and the parameters
it drew, so a copy is reproducible from (split seed, edit, photo) alone and the manifest can say
exactly what was done.
"""

import io
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# Copies that are not re-encodings are saved as high-quality JPEG, as most uploads are.
SAVE_QUALITY = 95

CAPTIONS = (
    "when the benchmark finally runs",
    "nobody:\nabsolutely nobody:",
    "me on monday",
    "this is fine",
    "limited offer",
    "I can't even",
)
OVERLAY_TEXTS = (
    "SALE 50%",
    "(c) all rights reserved",
    "#throwback",
    "photo: j. doe",
    "wow",
    "2019",
)
TEXT_FONTS = ("Raleway-ExtraBold", "OpenSans-Bold", "SourceSansPro-Bold", "Impact")
EMOJI_GROUPS = ("smileys", "animals_and_nature", "food_and_drink", "objects", "symbols")


def _install_augly_shims() -> None:
    """Put back the two APIs AugLy 1.0.0 calls that Pillow >= 10 and numpy >= 1.24 removed."""
    if not hasattr(ImageFont.FreeTypeFont, "getsize_multiline"):

        def getsize_multiline(font, text, *args, **kwargs):
            left, top, right, bottom = ImageDraw.Draw(Image.new("L", (1, 1))).multiline_textbbox(
                (0, 0), text, font=font
            )
            return right - left, bottom - top

        ImageFont.FreeTypeFont.getsize_multiline = getsize_multiline  # type: ignore[attr-defined]
    if "float" not in np.__dict__:
        np.float = float  # type: ignore[attr-defined]


_install_augly_shims()
import augly.image as imaugs  # noqa: E402 - needs the shims above
from augly.utils import ASSETS_BASE_DIR  # noqa: E402

from benchmarks.quality import templates  # noqa: E402

ASSETS = Path(ASSETS_BASE_DIR)


@dataclass(frozen=True)
class Edit:
    """A named way of copying a photo; `steps` are applied in order."""

    name: str
    klass: str  # exact|near|hard
    steps: tuple[str, ...]


Params = dict[str, object]
Step = Callable[[Image.Image, np.random.Generator], tuple[Image.Image, Params]]


def _uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return round(float(rng.uniform(low, high)), 3)


def _either_side(rng: np.random.Generator, down: tuple[float, float], up: tuple[float, float]):
    """A factor drawn from `down` or `up` with equal odds (darker or brighter, etc.)."""
    return _uniform(rng, *(down if rng.random() < 0.5 else up))


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in rng.integers(0, 256, 3))
    return r, g, b


def _font(name: str) -> str:
    return str(ASSETS / "fonts" / f"{name}.ttf")


def _text_indices(font_name: str, text: str) -> list[int]:
    """AugLy's overlay_text wants indices into the font's character table, not a string."""
    with open(ASSETS / "fonts" / f"{font_name}.pkl", "rb") as f:
        chars = pickle.load(f)
    return [chars.index(ord(c)) for c in text]


def _logo(rng: np.random.Generator) -> Image.Image:
    """A small brand-like mark (a disc and a word) on a transparent background."""
    logo = Image.new("RGBA", (240, 80), (0, 0, 0, 0))
    draw = ImageDraw.Draw(logo)
    colour = _colour(rng)
    draw.ellipse((4, 4, 76, 76), fill=(*colour, 255))
    word = str(rng.choice(["acme", "pixco", "snapr", "fotobox"]))
    draw.text((86, 14), word, font=ImageFont.truetype(_font("Montserrat-Bold"), 44), fill=colour)
    return logo


# --- the steps: each returns the edited picture and what it drew --------------------------------


def crop_borders(img, rng):
    x1, y1 = _uniform(rng, 0.03, 0.15), _uniform(rng, 0.03, 0.15)
    x2, y2 = 1 - _uniform(rng, 0.03, 0.15), 1 - _uniform(rng, 0.03, 0.15)
    return imaugs.crop(img, x1=x1, y1=y1, x2=x2, y2=y2), {"box": [x1, y1, x2, y2]}


def overlay_text(img, rng):
    font, text = str(rng.choice(TEXT_FONTS)), str(rng.choice(OVERLAY_TEXTS))
    p = {
        "text": text,
        "font": font,
        "font_size": _uniform(rng, 0.08, 0.18),
        "x_pos": _uniform(rng, 0.0, 0.4),
        "y_pos": _uniform(rng, 0.05, 0.8),
        "color": _colour(rng),
    }
    out = imaugs.overlay_text(
        img,
        text=_text_indices(font, text),
        font_file=_font(font),
        font_size=p["font_size"],
        x_pos=p["x_pos"],
        y_pos=p["y_pos"],
        color=p["color"],
    )
    return out, p


def overlay_emoji(img, rng):
    group = ASSETS / "twemojis" / str(rng.choice(EMOJI_GROUPS))
    emoji = sorted(group.glob("*.png"))[int(rng.integers(0, 40))]
    p = {
        "emoji": emoji.name,
        "size": _uniform(rng, 0.15, 0.35),
        "x_pos": _uniform(rng, 0.0, 0.7),
        "y_pos": _uniform(rng, 0.0, 0.7),
    }
    out = imaugs.overlay_emoji(
        img, emoji_path=str(emoji), emoji_size=p["size"], x_pos=p["x_pos"], y_pos=p["y_pos"]
    )
    return out, p


def overlay_logo(img, rng):
    corner = [(0.02, 0.02), (0.55, 0.02), (0.02, 0.85), (0.55, 0.85)][int(rng.integers(0, 4))]
    p = {"size": _uniform(rng, 0.12, 0.2), "opacity": _uniform(rng, 0.6, 1.0), "corner": corner}
    out = imaugs.overlay_image(
        img,
        _logo(rng),
        overlay_size=p["size"],
        opacity=p["opacity"],
        x_pos=corner[0],
        y_pos=corner[1],
    )
    return out, p


def brightness(img, rng):
    factor = _either_side(rng, (0.45, 0.7), (1.3, 1.7))
    return imaugs.brightness(img, factor=factor), {"factor": factor}


def contrast(img, rng):
    factor = _either_side(rng, (0.4, 0.7), (1.4, 2.0))
    return imaugs.contrast(img, factor=factor), {"factor": factor}


def saturation(img, rng):
    factor = _either_side(rng, (0.2, 0.5), (1.6, 2.5))
    return imaugs.saturation(img, factor=factor), {"factor": factor}


def aspect_ratio(img, rng):
    ratio = round(img.width / img.height * _either_side(rng, (0.65, 0.8), (1.25, 1.5)), 3)
    return imaugs.change_aspect_ratio(img, ratio=ratio), {"ratio": ratio}


def hflip(img, rng):
    return imaugs.hflip(img), {}


def pad(img, rng):
    p = {"w": _uniform(rng, 0.05, 0.3), "h": _uniform(rng, 0.05, 0.3), "color": _colour(rng)}
    return imaugs.pad(img, w_factor=p["w"], h_factor=p["h"], color=p["color"]), p


def rotate(img, rng):
    degrees = _either_side(rng, (-10.0, -3.0), (3.0, 10.0))
    return imaugs.rotate(img, degrees=degrees), {"degrees": degrees}


def grayscale(img, rng):
    return imaugs.grayscale(img), {}


def blur(img, rng):
    radius = _uniform(rng, 1.0, 3.0)
    return imaugs.blur(img, radius=radius), {"radius": radius}


def downscale(img, rng):
    factor = _uniform(rng, 0.35, 0.7)
    return imaugs.scale(img, factor=factor), {"factor": factor}


def upscale(img, rng):
    factor = _uniform(rng, 1.3, 2.0)
    return imaugs.scale(img, factor=factor), {"factor": factor}


def screenshot(img, rng):
    template = str(rng.choice(["web.png", "mobile.png"]))
    path = ASSETS / "screenshot_templates" / template
    return imaugs.overlay_onto_screenshot(img, template_filepath=str(path)), {"template": template}


def meme(img, rng):
    p = {
        "text": str(rng.choice(CAPTIONS)),
        "caption_height": int(rng.integers(max(60, img.height // 6), max(61, img.height // 3))),
        "font": str(rng.choice(["Raleway-ExtraBold", "Impact"])),
    }
    out = imaugs.meme_format(
        img, text=p["text"], caption_height=p["caption_height"], font_file=_font(p["font"])
    )
    return out, p


PIXEL_STEPS: dict[str, Step] = {
    f.__name__: f
    for f in (
        crop_borders,
        overlay_text,
        overlay_emoji,
        overlay_logo,
        brightness,
        contrast,
        saturation,
        aspect_ratio,
        hflip,
        pad,
        rotate,
        grayscale,
        blur,
        downscale,
        upscale,
        screenshot,
        meme,
    )
}

# Steps that frame the photo in a template drawn for the copy (texts from the split's own pool).
TEMPLATE_STEPS = ("screenshot_app", "screenshot_browser", "shop_banner")

# Steps that only change the encoding: they need the source bytes, not only pixels.
ENCODING_STEPS = {"byte_copy", "jpeg_high", "jpeg_medium", "jpeg_low", "png", "webp"}
JPEG_QUALITY = {"jpeg_high": (85, 95), "jpeg_medium": (60, 80), "jpeg_low": (30, 50)}

NEAR_SINGLES = (
    "crop_borders",
    "overlay_text",
    "overlay_emoji",
    "overlay_logo",
    "brightness",
    "contrast",
    "saturation",
    "aspect_ratio",
    "hflip",
    "pad",
    "rotate",
    "grayscale",
    "blur",
)
NEAR_PAIRS = (
    ("crop_borders", "overlay_text"),
    ("hflip", "saturation"),
    ("aspect_ratio", "blur"),
    ("pad", "grayscale"),
    ("rotate", "overlay_emoji"),
    ("brightness", "overlay_logo"),
)

EDITS: tuple[Edit, ...] = (
    *(Edit(n, "exact", (n,)) for n in sorted(ENCODING_STEPS)),
    Edit("downscale", "exact", ("downscale",)),
    Edit("upscale", "exact", ("upscale",)),
    *(Edit(n, "near", (n,)) for n in NEAR_SINGLES),
    *(Edit("+".join(pair), "near", pair) for pair in NEAR_PAIRS),
    Edit("screenshot", "hard", ("screenshot",)),
    Edit("meme", "hard", ("meme",)),
    # Added after the original 29, so their indices (and the seeds of their copies) are unchanged.
    Edit("screenshot_app", "hard", ("screenshot_app",)),
    Edit("screenshot_browser", "hard", ("screenshot_browser",)),
    Edit("shop_banner", "near", ("shop_banner",)),
)


def _encode(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG" and img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    img.save(out, format=fmt, **kwargs)
    return out.getvalue()


def apply(
    edit: Edit, source: bytes, rng: np.random.Generator, split: str = "calibration"
) -> tuple[bytes, str, list[Params]]:
    """The copy's bytes, its file extension and the parameters of each step."""
    step = edit.steps[0]
    if step in ENCODING_STEPS:
        return _apply_encoding(step, source, rng)
    img: Image.Image = Image.open(io.BytesIO(source))
    img.load()
    params = []
    for name in edit.steps:
        if name in TEMPLATE_STEPS:
            template = templates.draw(name, rng, split)
            img, p = templates.frame(img, template), template.params
        else:
            img, p = PIXEL_STEPS[name](img, rng)
        params.append(p)
    return _encode(img, "JPEG", quality=SAVE_QUALITY), "jpg", params


def _apply_encoding(step: str, source: bytes, rng: np.random.Generator):
    if step == "byte_copy":
        return source, "jpg", [{}]
    img = Image.open(io.BytesIO(source))
    img.load()
    if step in JPEG_QUALITY:
        quality = int(rng.integers(*JPEG_QUALITY[step], endpoint=True))
        return _encode(img, "JPEG", quality=quality), "jpg", [{"quality": quality}]
    if step == "png":
        return _encode(img, "PNG"), "png", [{}]
    quality = int(rng.integers(70, 90, endpoint=True))
    return _encode(img, "WEBP", quality=quality), "webp", [{"quality": quality}]
