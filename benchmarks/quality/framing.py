"""Drawing a template around a photo: a function a family, given the photo and the template's
parameters (benchmarks/quality/templates.py draws those, and its `frame` calls these)."""

import math
from pathlib import Path

from augly.utils import ASSETS_BASE_DIR
from PIL import Image, ImageDraw, ImageFont

Colour = tuple[int, int, int]
ASSETS = Path(ASSETS_BASE_DIR)


def _font(name: str, size: float) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(ASSETS / "fonts" / f"{name}.ttf"), max(6, int(size)))


def fit(photo: Image.Image, width: int, max_height: int) -> Image.Image:
    """The photo scaled to `width`, or smaller if it would be taller than `max_height`."""
    scale = min(width / photo.width, max_height / photo.height)
    size = (max(1, round(photo.width * scale)), max(1, round(photo.height * scale)))
    return photo.convert("RGB").resize(size, Image.Resampling.LANCZOS)


def app_screenshot(photo: Image.Image, p: dict) -> Image.Image:
    """A social or marketplace app: status bar, app header, post header, photo, icons, caption."""
    w, h = p["size"]
    bg, fg, muted = ((0, 0, 0), (245, 245, 245), (150, 150, 150))
    if not p["dark"]:
        bg, fg, muted = (255, 255, 255), (20, 20, 20), (120, 120, 120)
    canvas = Image.new("RGB", (w, h), bg)
    d = ImageDraw.Draw(canvas)
    u = w / 100  # one hundredth of the screen width
    # Status bar: clock, signal bars, battery.
    d.text((5 * u, 1.5 * u), p["clock"], font=_font("OpenSans-Bold", 4 * u), fill=fg)
    for i in range(4):
        d.rectangle((76 * u + i * 2 * u, 5 * u - i * u, 77.2 * u + i * 2 * u, 6 * u), fill=fg)
    d.rounded_rectangle(
        (86 * u, 2.5 * u, 95 * u, 6 * u), radius=u, outline=fg, width=max(1, int(u / 3))
    )
    d.rectangle((87 * u, 3.3 * u, 92 * u, 5.2 * u), fill=fg)
    # App header, then the post header: avatar and user name.
    y = 9 * u
    d.text((5 * u, y), "Marketplace", font=_font("Pacifico", 6 * u), fill=fg)
    d.line((0, y + 11 * u, w, y + 11 * u), fill=muted, width=max(1, int(u / 4)))
    y += 13 * u
    d.ellipse((4 * u, y, 13 * u, y + 9 * u), fill=p["accent"])
    d.text((16 * u, y + 1.5 * u), p["user"], font=_font("OpenSans-Bold", 4 * u), fill=fg)
    for i in range(3):
        d.ellipse((90 * u + i * 2 * u, y + 4 * u, 91 * u + i * 2 * u, y + 5 * u), fill=fg)
    y += 11 * u
    # The photo, somewhere in the space between the post header and the icon row.
    footer = 40 * u
    free_y = h - y - footer
    top = y + p["photo_y"] * free_y * 0.5
    shown = fit(photo, int(p["photo_width"] * w), int(h - top - footer))
    left = int(p["photo_x"] * (w - shown.width))
    canvas.paste(shown, (left, int(top)))
    y = top + shown.height + 2 * u
    # Icon row: heart, comment bubble, share arrow, bookmark.
    stroke = max(2, int(u / 2))
    _heart(d, 5 * u, y, 6 * u, (230, 30, 60))
    d.ellipse((15 * u, y, 21 * u, y + 5.5 * u), outline=fg, width=stroke)
    d.polygon([(25 * u, y), (31 * u, y + 2.7 * u), (25 * u, y + 5.5 * u)], outline=fg, width=stroke)
    d.polygon([(90 * u, y), (95 * u, y), (95 * u, y + 6 * u), (92.5 * u, y + 4 * u), (90 * u, y + 6 * u)], outline=fg, width=stroke)  # fmt: skip
    y += 8 * u
    d.text((5 * u, y), f"{p['likes']:,} likes", font=_font("OpenSans-Bold", 3.6 * u), fill=fg)
    y += 5.5 * u
    d.text(
        (5 * u, y), f"{p['user']}  {p['caption']}", font=_font("OpenSans-Regular", 3.6 * u), fill=fg
    )
    d.text(
        (5 * u, y + 5.5 * u),
        "View all comments",
        font=_font("OpenSans-Regular", 3.4 * u),
        fill=muted,
    )
    # Bottom navigation bar.
    d.rectangle((0, h - 13 * u, w, h), fill=bg)
    d.line((0, h - 13 * u, w, h - 13 * u), fill=muted, width=max(1, int(u / 4)))
    for i in range(5):
        cx = (10 + 20 * i) * u
        d.rounded_rectangle(
            (cx - 3 * u, h - 9.5 * u, cx + 3 * u, h - 3.5 * u), radius=u, outline=fg, width=stroke
        )
    return canvas


def _heart(d: ImageDraw.ImageDraw, x: float, y: float, size: float, colour: Colour) -> None:
    r = size / 4
    d.ellipse((x, y, x + 2 * r, y + 2 * r), fill=colour)
    d.ellipse((x + 2 * r, y, x + 4 * r, y + 2 * r), fill=colour)
    d.polygon([(x, y + r * 1.2), (x + 4 * r, y + r * 1.2), (x + 2 * r, y + size)], fill=colour)


def browser_screenshot(photo: Image.Image, p: dict) -> Image.Image:
    """A desktop browser: tab strip, address bar, a shop page with the photo and its listing."""
    w, h = p["size"]
    canvas = Image.new("RGB", (w, h), (255, 255, 255))
    d = ImageDraw.Draw(canvas)
    chrome = tuple(p["chrome"])
    dark = tuple(max(0, c - 40) for c in chrome)
    # Tab strip.
    d.rectangle((0, 0, w, 42), fill=dark)
    for i, title in enumerate(p["tabs"]):
        x0 = 80 + i * 230
        fill = chrome if i == p["active_tab"] else tuple(max(0, c - 20) for c in chrome)
        d.rounded_rectangle((x0, 6, x0 + 220, 48), radius=10, fill=fill)
        d.text((x0 + 14, 14), title, font=_font("OpenSans-Regular", 16), fill=(30, 30, 30))
    for i, colour in enumerate([(237, 106, 94), (245, 191, 79), (98, 197, 84)]):
        d.ellipse((14 + i * 20, 15, 28 + i * 20, 29), fill=colour)
    # Toolbar: back, forward, reload, address bar.
    d.rectangle((0, 42, w, 92), fill=chrome)
    for i in range(3):
        d.ellipse((14 + i * 36, 54, 40 + i * 36, 80), outline=(90, 90, 90), width=2)
    d.rounded_rectangle((130, 50, w - 60, 84), radius=17, fill=(255, 255, 255))
    d.text(
        (150, 56),
        f"https://{p['site']}/listing/8841",
        font=_font("OpenSans-Regular", 17),
        fill=(40, 40, 40),
    )
    # The page: site header with navigation, the photo, the listing's title, price and text.
    d.rectangle((0, 92, w, 152), fill=tuple(p["accent"]))
    d.text((30, 104), p["shop"], font=_font("Montserrat-Bold", 28), fill=(255, 255, 255))
    for i, word in enumerate(("Women", "Men", "Kids", "Home", "Sell")):
        d.text((w - 420 + i * 80, 114), word, font=_font("OpenSans-Bold", 17), fill=(255, 255, 255))
    page_top = 170
    left = int(p["photo_x"] * w)
    top = int(page_top + p["photo_y"] * (h - page_top))
    shown = fit(photo, int(p["photo_width"] * w), h - top - 20)
    canvas.paste(shown, (left, top))
    x = left + shown.width + 40
    if x < w - 200:
        d.text(
            (x, top),
            "Second-hand, good condition",
            font=_font("OpenSans-Bold", 24),
            fill=(20, 20, 20),
        )
        d.text((x, top + 44), p["price"], font=_font("OpenSans-Bold", 34), fill=tuple(p["accent"]))
        for i in range(6):
            length = (w - x - 60) * (0.9 if i % 3 else 0.6)
            d.rectangle(
                (x, top + 110 + 26 * i, x + length, top + 122 + 26 * i), fill=(215, 215, 215)
            )
        d.rounded_rectangle((x, top + 290, x + 220, top + 340), radius=8, fill=tuple(p["accent"]))
        d.text(
            (x + 40, top + 301), "Buy now", font=_font("OpenSans-Bold", 22), fill=(255, 255, 255)
        )
    return canvas


def _meme_band(img: Image.Image, p: dict) -> Image.Image:
    """White caption bands with black text: top only, or top and bottom."""
    band = max(40, int(p["band"] * img.height))
    n_bands = 2 if p["both"] else 1
    canvas = Image.new("RGB", (img.width, img.height + n_bands * band), (255, 255, 255))
    canvas.paste(img, (0, band))
    d = ImageDraw.Draw(canvas)
    words = p["text"].split()
    halves = [" ".join(words[: len(words) // 2]), " ".join(words[len(words) // 2 :])]
    texts = halves if p["both"] else [p["text"]]
    for i, text in enumerate(texts):
        y0 = 0 if i == 0 else band + img.height
        font = _fit_font(p["font"], text, img.width * 0.9, band * 0.6)
        d.text((img.width / 2, y0 + band / 2), text, font=font, fill=(0, 0, 0), anchor="mm")
    return canvas


def _fit_font(name: str, text: str, max_width: float, max_height: float) -> ImageFont.FreeTypeFont:
    font = _font(name, max_height)
    length = font.getlength(text)
    if length > max_width:
        font = _font(name, max_height * max_width / length)
    return font


def _meme_impact(img: Image.Image, p: dict) -> Image.Image:
    """Impact text, white with a black outline, at the top and bottom of the photo."""
    out = img.copy()
    d = ImageDraw.Draw(out)
    size = p["size"] * img.height
    for text, y in ((p["top"], size * 0.7), (p["bottom"], img.height - size * 0.7)):
        font = _fit_font("Impact", text, img.width * 0.95, size)
        d.text(
            (img.width / 2, y), text, font=font, fill=(255, 255, 255), anchor="mm",
            stroke_width=max(1, int(font.size / 14)), stroke_fill=(0, 0, 0),
        )  # fmt: skip
    return out


def _shop_banner(img: Image.Image, p: dict) -> Image.Image:
    """A coloured band over the top or bottom of the photo with a shop name and a price."""
    out = img.copy()
    d = ImageDraw.Draw(out)
    band = int(p["height"] * img.height)
    y0 = img.height - band if p["bottom"] else 0
    d.rectangle((0, y0, img.width, y0 + band), fill=tuple(p["colour"]))
    font = _fit_font("Montserrat-Bold", p["shop"], img.width * 0.55, band * 0.5)
    d.text(
        (img.width * 0.04, y0 + band / 2), p["shop"], font=font, fill=(255, 255, 255), anchor="lm"
    )
    font = _fit_font("OpenSans-ExtraBold", p["price"], img.width * 0.3, band * 0.6)
    d.text(
        (img.width * 0.96, y0 + band / 2), p["price"], font=font, fill=(255, 240, 0), anchor="rm"
    )
    return out


def _watermark_text(img: Image.Image, p: dict) -> Image.Image:
    """A big, semi-transparent word across the photo's diagonal."""
    diagonal = math.hypot(img.width, img.height)
    layer = Image.new("RGBA", (int(diagonal), int(diagonal)), (0, 0, 0, 0))
    font = _fit_font("OpenSans-ExtraBold", p["text"], diagonal * 0.8, diagonal * 0.2)
    shade = (255, 255, 255) if p["white"] else (0, 0, 0)
    ImageDraw.Draw(layer).text(
        (diagonal / 2, diagonal / 2), p["text"], font=font, anchor="mm",
        fill=(*shade, int(255 * p["opacity"])),
    )  # fmt: skip
    layer = layer.rotate(p["angle"], resample=Image.Resampling.BICUBIC)
    left, top = int((diagonal - img.width) / 2), int((diagonal - img.height) / 2)
    layer = layer.crop((left, top, left + img.width, top + img.height))
    return Image.alpha_composite(img.convert("RGBA"), layer).convert("RGB")


def _watermark_tiled(img: Image.Image, p: dict) -> Image.Image:
    """A small logo repeated over the whole photo, semi-transparent."""
    tile_w = max(24, int(p["tile"] * img.width))
    logo = Image.new("RGBA", (240, 80), (0, 0, 0, 0))
    d = ImageDraw.Draw(logo)
    d.ellipse((4, 4, 76, 76), fill=(*p["colour"], 255))
    d.text((86, 14), p["logo"], font=_font("Montserrat-Bold", 44), fill=(*p["colour"], 255))
    logo = logo.resize((tile_w, max(8, tile_w // 3)), Image.Resampling.LANCZOS)
    alpha = logo.getchannel("A").point(lambda a: int(a * p["opacity"]))
    logo.putalpha(alpha)
    layer = Image.new("RGBA", img.size, (0, 0, 0, 0))
    step_x, step_y = int(tile_w * 1.5), int(tile_w * 0.9)
    for row, y in enumerate(range(0, img.height, step_y)):
        for x in range((row % 2) * step_x // 2, img.width, step_x):
            layer.alpha_composite(logo, (x, y))
    return Image.alpha_composite(img.convert("RGBA"), layer).convert("RGB")


def _border(img: Image.Image, p: dict) -> Image.Image:
    """A solid frame around the photo, with an optional thin inner line."""
    outer = max(2, int(p["outer"] * img.width))
    inner = p["inner"]
    canvas = Image.new("RGB", (img.width + 2 * outer, img.height + 2 * outer), tuple(p["colour"]))
    canvas.paste(img, (outer, outer))
    if inner:
        ImageDraw.Draw(canvas).rectangle(
            (outer - inner, outer - inner, outer + img.width + inner - 1, outer + img.height + inner - 1),
            outline=tuple(p["inner_colour"]), width=inner,
        )  # fmt: skip
    return canvas


def _badge(img: Image.Image, p: dict) -> Image.Image:
    """A "SALE"/"NEW"-style badge in one corner: a disc, a corner ribbon or a price tag."""
    out = img.copy()
    d = ImageDraw.Draw(out)
    size = int(p["size"] * min(img.width, img.height))
    margin = int(size * 0.15)
    right, bottom = p["corner"] % 2, p["corner"] // 2
    x0 = img.width - size - margin if right else margin
    y0 = img.height - size - margin if bottom else margin
    colour = tuple(p["colour"])
    if p["shape"] == "disc":
        d.ellipse(
            (x0, y0, x0 + size, y0 + size),
            fill=colour,
            outline=(255, 255, 255),
            width=max(1, size // 20),
        )
    elif p["shape"] == "ribbon":
        d.polygon([(x0, y0 + size * 0.3), (x0 + size, y0), (x0 + size, y0 + size * 0.45), (x0, y0 + size * 0.75)], fill=colour)  # fmt: skip
    else:
        d.rounded_rectangle(
            (x0, y0 + size * 0.2, x0 + size, y0 + size * 0.8), radius=size // 8, fill=colour
        )
        d.ellipse(
            (x0 + size * 0.08, y0 + size * 0.45, x0 + size * 0.16, y0 + size * 0.55),
            fill=(255, 255, 255),
        )
    font = _fit_font("OpenSans-ExtraBold", p["text"], size * 0.7, size * 0.3)
    d.text((x0 + size / 2, y0 + size / 2), p["text"], font=font, fill=(255, 255, 255), anchor="mm")
    return out


FRAMERS = {
    "meme_band": _meme_band,
    "meme_impact": _meme_impact,
    "shop_banner": _shop_banner,
    "watermark_text": _watermark_text,
    "watermark_tiled": _watermark_tiled,
    "border": _border,
    "badge": _badge,
}
