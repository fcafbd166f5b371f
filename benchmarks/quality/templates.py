"""Templates that frame a photo: screenshots, memes, shop banners, watermarks, borders, badges.

A `Template` is a family, a variant name and every drawing parameter, drawn once from a seeded
Generator by `draw`; `frame` puts any photo into it. The template negatives put many different
photos into the very same template (they must not match each other); the hard-class edits draw
a new template for every copy.

Texts come from per-split pools (WORDING) and every parameter from the split's own seed, so the
calibration and held-out splits never share a caption, shop name, watermark or colour draw:
tuning on one cannot learn the other's templates.
"""

from dataclasses import dataclass, field

import augly.image as imaugs
import numpy as np
from PIL import Image

from benchmarks.quality.framing import (
    ASSETS,
    FRAMERS,
    Colour,
    app_screenshot,
    browser_screenshot,
    fit,
)


@dataclass(frozen=True)
class Wording:
    """The texts one split's templates draw from."""

    users: tuple[str, ...]
    captions: tuple[str, ...]
    shops: tuple[str, ...]
    prices: tuple[str, ...]
    sites: tuple[str, ...]
    tabs: tuple[str, ...]
    watermarks: tuple[str, ...]
    logos: tuple[str, ...]
    badges: tuple[str, ...]
    memes: tuple[tuple[str, str], ...]


WORDING = {
    "calibration": Wording(
        users=("anna.vintage", "thrift_queen", "marc_sells", "closet.clear"),
        captions=("worn twice, like new", "size M, smoke-free home", "pick up only"),
        shops=("SECOND CLOSET", "Retro Rack", "FASHION OUTLET"),
        prices=("12.99 EUR", "$25", "9,50 €", "£18"),
        sites=("shopnow.example", "closetswap.example"),
        tabs=("Inbox (3)", "Second-hand finds", "Search results", "News"),
        watermarks=("SAMPLE", "PREVIEW", "© STUDIO"),
        logos=("acme", "snapr"),
        badges=("SALE", "-30%", "HOT"),
        memes=(("WHEN YOU FIND IT", "FOR 5 EUR"), ("NOBODY:", "ME:"), ("ONE DOES NOT", "SIMPLY")),
    ),
    "heldout": Wording(
        users=("lena.finds", "preloved_pete", "rosa.closet", "deal_hunter"),
        captions=("barely used, no stains", "great condition, size L", "ships tomorrow"),
        shops=("THE RESALE SHOP", "Vintage Corner", "BARGAIN BIN"),
        prices=("15 EUR", "$40", "7,00 €", "£30"),
        sites=("resellit.example", "wardrobe.example"),
        tabs=("Mail", "Listing #4821", "Saved items", "Weather"),
        watermarks=("DEMO", "DO NOT COPY", "© PHOTO"),
        logos=("pixco", "fotobox"),
        badges=("NEW", "-50%", "TOP"),
        memes=(
            ("ME BEFORE", "THE SALE"),
            ("IT'S NOT MUCH", "BUT IT'S HONEST WORK"),
            ("WAIT", "WHAT"),
        ),
    ),
}


@dataclass(frozen=True)
class Template:
    family: str
    name: str
    params: dict = field(hash=False)


def _colour(rng: np.random.Generator, low: int = 0, high: int = 256) -> Colour:
    r, g, b = (int(v) for v in rng.integers(low, high, 3))
    return r, g, b


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(0, len(options)))]


def _to_width(photo: Image.Image, width: int | None) -> Image.Image:
    """Template negatives put every photo at one width, so the frame is the same pixels."""
    if width is None:
        return photo.convert("RGB")
    return fit(photo, width, 10 * width)


# --- drawing each family's parameters -------------------------------------------------------------


def _draw_screenshot_augly(rng, words, variant):
    return {"template": ("web.png", "mobile.png")[variant % 2]}


def _draw_screenshot_app(rng, words, variant):
    dark = bool(rng.random() < 0.4)
    return {
        "size": [int(rng.integers(360, 431)) * 2, int(rng.integers(740, 900)) * 2],
        "dark": dark,
        "accent": _colour(rng, 0, 200),
        "user": str(_pick(rng, words.users)),
        "caption": str(_pick(rng, words.captions)),
        "likes": int(rng.integers(3, 5000)),
        "clock": f"{int(rng.integers(7, 23))}:{int(rng.integers(0, 60)):02d}",
        "photo_width": _round(rng.uniform(0.55, 1.0)),
        "photo_x": _round(rng.uniform(0, 1)),  # share of the space left beside the photo
        "photo_y": _round(rng.uniform(0, 0.25)),  # share of the height below the post header
    }


def _draw_screenshot_browser(rng, words, variant):
    n_tabs = int(rng.integers(2, 5))
    return {
        "size": [int(rng.integers(1100, 1441)), int(rng.integers(700, 901))],
        "chrome": _colour(rng, 180, 240),
        "accent": _colour(rng, 0, 180),
        "tabs": [str(t) for t in rng.permutation(words.tabs)[:n_tabs]],
        "active_tab": int(rng.integers(0, n_tabs)),
        "site": str(_pick(rng, words.sites)),
        "shop": str(_pick(rng, words.shops)),
        "price": str(_pick(rng, words.prices)),
        "photo_width": _round(rng.uniform(0.3, 0.6)),
        "photo_x": _round(rng.uniform(0.03, 0.35)),
        "photo_y": _round(rng.uniform(0.0, 0.1)),
    }


def _draw_meme_band(rng, words, variant):
    top, bottom = _pick(rng, words.memes)
    return {
        "text": f"{top} {bottom}".lower(),
        "band": _round(rng.uniform(0.15, 0.3)),
        "both": bool(variant % 2),  # a top band only (AugLy's meme_format look), or top and bottom
        "font": str(_pick(rng, ("Raleway-ExtraBold", "Impact"))),
        "width": int(rng.integers(400, 641)),
    }


def _draw_meme_impact(rng, words, variant):
    top, bottom = _pick(rng, words.memes)
    return {
        "top": top,
        "bottom": bottom,
        "size": _round(rng.uniform(0.08, 0.13)),
        "width": int(rng.integers(400, 641)),
    }


def _draw_shop_banner(rng, words, variant):
    return {
        "shop": str(_pick(rng, words.shops)),
        "price": str(_pick(rng, words.prices)),
        "colour": _colour(rng, 0, 220),
        "height": _round(rng.uniform(0.12, 0.22)),
        "bottom": bool(rng.random() < 0.7),
        "width": int(rng.integers(400, 641)),
    }


def _draw_watermark_text(rng, words, variant):
    return {
        "text": str(_pick(rng, words.watermarks)),
        "angle": _round(rng.uniform(20, 45)),
        "opacity": _round(rng.uniform(0.25, 0.5)),
        "white": bool(rng.random() < 0.6),
        "width": int(rng.integers(400, 641)),
    }


def _draw_watermark_tiled(rng, words, variant):
    return {
        "logo": str(_pick(rng, words.logos)),
        "colour": _colour(rng),
        "tile": _round(rng.uniform(0.18, 0.3)),
        "opacity": _round(rng.uniform(0.2, 0.4)),
        "width": int(rng.integers(400, 641)),
    }


def _draw_border(rng, words, variant):
    return {
        "outer": _round(rng.uniform(0.03, 0.15)),
        "colour": _colour(rng),
        "inner": int(rng.integers(0, 6)),  # a thin inner line, 0 for none
        "inner_colour": _colour(rng),
        "width": int(rng.integers(400, 641)),
    }


def _draw_badge(rng, words, variant):
    return {
        "text": str(_pick(rng, words.badges)),
        "shape": str(_pick(rng, ("disc", "ribbon", "tag"))),
        "corner": int(rng.integers(0, 4)),
        "size": _round(rng.uniform(0.15, 0.28)),
        "colour": _colour(rng, 120, 256),
        "width": int(rng.integers(400, 641)),
    }


def _round(x: float) -> float:
    return round(float(x), 3)


DRAWERS = {
    "screenshot_augly": _draw_screenshot_augly,
    "screenshot_app": _draw_screenshot_app,
    "screenshot_browser": _draw_screenshot_browser,
    "meme_band": _draw_meme_band,
    "meme_impact": _draw_meme_impact,
    "shop_banner": _draw_shop_banner,
    "watermark_text": _draw_watermark_text,
    "watermark_tiled": _draw_watermark_tiled,
    "border": _draw_border,
    "badge": _draw_badge,
}
FAMILIES = tuple(DRAWERS)


def draw(family: str, rng: np.random.Generator, split: str, variant: int = 0) -> Template:
    """A template of `family` with parameters drawn from `rng` and texts from `split`'s pool."""
    params = DRAWERS[family](rng, WORDING[split], variant)
    return Template(family, f"{family}/{variant}", params)


def frame(photo: Image.Image, template: Template, fixed_width: bool = False) -> Image.Image:
    """`photo` inside `template`. With `fixed_width` the photo is first scaled to the template's
    width, so that every photo framed by one template shares the frame pixel for pixel."""
    p = template.params
    width = p.get("width") if fixed_width else None
    family = template.family
    if family == "screenshot_augly":
        path = ASSETS / "screenshot_templates" / p["template"]
        return imaugs.overlay_onto_screenshot(photo.convert("RGB"), template_filepath=str(path))
    if family == "screenshot_app":
        return app_screenshot(photo, p)
    if family == "screenshot_browser":
        return browser_screenshot(photo, p)
    return FRAMERS[family](_to_width(photo, width), p)


# --- the frames --------------------------------------------------------------------------------
