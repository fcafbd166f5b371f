"""Contact sheets: pairs of images side by side, so a person can look at what was flagged."""

from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageOps

THUMB = 220
LABEL_HEIGHT = 22


def write(pairs: Sequence[tuple[Path, Path, str]], out: Path, thumb: int = THUMB) -> Path | None:
    """One row per pair: image A, image B and a label under them; None when there is no pair."""
    if not pairs:
        return None
    row = thumb + LABEL_HEIGHT
    sheet = Image.new("RGB", (2 * thumb + 12, len(pairs) * row), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for k, (a, b, label) in enumerate(pairs):
        for col, path in enumerate((a, b)):
            with Image.open(path) as img:
                small = ImageOps.contain(
                    ImageOps.exif_transpose(img).convert("RGB"), (thumb, thumb)
                )
            sheet.paste(small, (col * (thumb + 12), k * row))
        draw.text((4, k * row + thumb + 4), label, fill=(0, 0, 0))
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out
