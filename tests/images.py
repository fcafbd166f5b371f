"""Copies of real photos made in the tests, each with a visible, named transformation."""

import io
import zlib
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps


def _rgb(path: Path) -> Image.Image:
    return ImageOps.exif_transpose(Image.open(path)).convert("RGB")


def encode(image: Image.Image, fmt: str = "JPEG", **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def resized_jpeg(path: Path, scale: float = 0.6, quality: int = 80) -> bytes:
    """The photo scaled down and re-encoded as JPEG: an exact duplicate."""
    image = _rgb(path)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return encode(image.resize(size, Image.Resampling.LANCZOS), quality=quality)


def with_caption(path: Path, text: str = "SALE -50% TODAY ONLY") -> bytes:
    """The photo with a large caption drawn over its lower part: a near duplicate."""
    image = _rgb(path)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(12, image.height // 9))
    x, y = image.width // 20, image.height * 2 // 3
    draw.text((x, y), text, font=font, fill=(255, 255, 0), stroke_width=2, stroke_fill=(0, 0, 0))
    return encode(image, quality=90)


def meme_of(
    photo: Image.Image, top: str = "WHEN THE TESTS PASS", bottom: str = "ON THE FIRST TRY"
) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """The photo between two white caption bands with black text, and where the photo is."""
    band = photo.height // 4
    meme = Image.new("RGB", (photo.width, photo.height + 2 * band), "white")
    meme.paste(photo, (0, band))
    draw = ImageDraw.Draw(meme)
    font = ImageFont.load_default(size=band // 3)
    draw.text((10, band // 4), top, fill="black", font=font)
    draw.text((10, photo.height + band + band // 4), bottom, fill="black", font=font)
    return meme, (0, band, photo.width, band + photo.height)


def shop_page_of(
    photo: Image.Image, shop: str = "Second Closet", price: str = "$25"
) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """The photo on a drawn shop page in a desktop browser, and where the photo is.

    The photo takes a third of the page's width, beside the listing's title, price, text lines
    and a button: most of every row through the photo is page, not photo.
    """
    width, height = 1280, 800
    page = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(page)
    draw.rectangle((0, 0, width, 42), fill=(200, 200, 210))
    for i, tab in enumerate(("Inbox (3)", "Search results", "Listing")):
        draw.rounded_rectangle(
            (80 + i * 230, 6, 300 + i * 230, 48), radius=10, fill=(225, 225, 235)
        )
        draw.text((94 + i * 230, 14), tab, fill="black", font=ImageFont.load_default(size=16))
    draw.rectangle((0, 42, width, 92), fill=(225, 225, 235))
    draw.rounded_rectangle((130, 50, width - 60, 84), radius=17, fill="white")
    draw.text((150, 56), "https://shop.example/listing/8841", fill=(40, 40, 40))
    draw.rectangle((0, 92, width, 152), fill=(90, 60, 160))
    draw.text((30, 104), shop, fill="white", font=ImageFont.load_default(size=28))
    shown = photo.resize((width // 3, round(photo.height * (width // 3) / photo.width)))
    left, top = 160, 180
    page.paste(shown, (left, top))
    x = left + shown.width + 40
    draw.text(
        (x, top), "Second-hand, good condition", fill="black", font=ImageFont.load_default(24)
    )
    draw.text((x, top + 44), price, fill=(90, 60, 160), font=ImageFont.load_default(size=34))
    for i in range(6):
        draw.rectangle(
            (x, top + 110 + 26 * i, width - 80, top + 122 + 26 * i), fill=(215, 215, 215)
        )
    draw.rounded_rectangle((x, top + 290, x + 220, top + 340), radius=8, fill=(90, 60, 160))
    return page, (left, top, left + shown.width, top + shown.height)


def giant_png(width: int = 30000, height: int = 30000) -> bytes:
    """A valid 1-bit PNG of width x height pixels, written without ever holding the pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([1, 0, 0, 0, 0])
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )
