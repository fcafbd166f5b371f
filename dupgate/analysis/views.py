"""Query-side views: crops that find a picture pasted into a larger one (screenshot, meme, padding).

A committed image has one descriptor of its whole. An upload that shows the picture inside a
frame (phone UI, caption bands, letterbox) is embedded once whole and once per view; the score
takes the best, and verification compares the pictures inside the frames. Views are embedded at
the same size as the whole, in the same batch: at 160 px a pasted picture lost ~0.2 of cosine
against its 288 px original, which left the view useless. So there is one view at most.
"""

import numpy as np
from PIL import Image

# A centre crop as the view of unframed pictures lifted 5-degree rotations (white corners) by
# ~0.04 of score on 50 ImageNet photos and helped nothing else, but made every upload pay a
# second inference (analysis 2.0x decode + one inference instead of ~1.1x), so there is none.
# The content box counts as a frame found when it leaves less than this share of the area.
FRAMED_AREA = 0.9
# Trimming starts only at an edge line that is flat (FLAT_SHARE of its pixels within FLAT_TOLERANCE
# grey levels of its median: a border, a caption band, a UI bar), and goes on through the lines
# whose median level holds BAND_SHARE of the pixels within BAND_TOLERANCE: a flat background
# with text or icons on it. Photo rows seldom are either.
FLAT_SHARE = 0.97
FLAT_TOLERANCE = 4
BAND_SHARE = 0.5
BAND_TOLERANCE = 12
# Below this share of the image left after trimming, the trim is taken to be a mistake.
MIN_CONTENT_AREA = 0.15
_PROBE = 256


Box = tuple[int, int, int, int]


def content_box(picture: Image.Image) -> Box:
    """The box left once flat-ish bands (borders, caption bands, UI bars) are cut from the edges."""
    grey = picture.convert("L")
    scale = _PROBE / max(grey.size)
    if scale < 1:
        grey = grey.resize(
            (max(1, round(grey.width * scale)), max(1, round(grey.height * scale))),
            Image.Resampling.BOX,
        )
    pixels = np.asarray(grey, dtype=np.int16)
    top, bottom = _trim(pixels)
    left, right = _trim(pixels[top:bottom].T)
    h, w = pixels.shape
    if (bottom - top) * (right - left) < MIN_CONTENT_AREA * h * w:
        return (0, 0, picture.width, picture.height)
    fx, fy = picture.width / w, picture.height / h
    return (round(left * fx), round(top * fy), round(right * fx), round(bottom * fy))


def framed_view(picture: Image.Image) -> tuple[Box, Image.Image | None]:
    """The content box, and the picture inside it when a frame was found (else None).

    Without a frame there is no view, so most uploads cost one inference and framed ones two.
    """
    left, top, right, bottom = box = content_box(picture)
    if (right - left) * (bottom - top) < FRAMED_AREA * picture.width * picture.height:
        return box, picture.crop(box)
    return (0, 0, picture.width, picture.height), None


def _trim(pixels: np.ndarray) -> tuple[int, int]:
    """First and one-past-last line once the frame bands at both ends are dropped."""
    n = pixels.shape[0]
    if pixels.size == 0:
        return 0, n
    median = np.median(pixels, axis=1)
    flat = _share_near(pixels, median, FLAT_TOLERANCE) >= FLAT_SHARE
    band = _share_near(pixels, median, BAND_TOLERANCE) >= BAND_SHARE
    start = _band_run(range(n), median, flat, band)
    end = n - _band_run(range(n - 1, start - 1, -1), median, flat, band)
    return (0, n) if start >= end else (start, end)


def _share_near(pixels: np.ndarray, median: np.ndarray, tolerance: int) -> np.ndarray:
    return np.asarray((np.abs(pixels - median[:, None]) <= tolerance).mean(axis=1))


def _band_run(lines: range, median: np.ndarray, flat: np.ndarray, band: np.ndarray) -> int:
    """How many lines from the edge belong to the frame.

    The frame starts with a flat line and its background is the median of the last flat line;
    a line with text or icons belongs to the frame only on that same background, so that a
    photo's own calm sky or sea does not.
    """
    count, background = 0, None
    for i in lines:
        if flat[i]:
            background = median[i]
        elif not (
            band[i] and background is not None and abs(median[i] - background) <= BAND_TOLERANCE
        ):
            break
        count += 1
    return count
