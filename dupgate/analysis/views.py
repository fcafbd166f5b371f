"""Query-side views: crops that find a picture pasted into a larger one (screenshot, meme, padding).

Two ways find the picture, tried in turn:

- **A photo on a flat UI** (a screenshot of an app, a feed or a shop page): the image's outer
  ring is a few flat colours (white page, grey bars, an accent), and the photo is the rectangle
  that holds the most pixels of none of those colours (the largest-sum rectangle of cells scored
  by that share, minus PHOTO_SHARE). Text and icons are too sparse to join it, so the page's
  listing text, story avatars and tab strips stay out; a photo's own flat sky does not, since
  its colour is not the page's.
- **Flat bands at the edges** (borders, padding, meme caption bands, a banner): trimmed line by
  line; used when the ring is not a flat UI (a meme's photo reaches its sides).

A committed image has one descriptor of its whole. An upload that shows the picture inside a
frame (phone UI, caption bands, letterbox) is embedded once whole and once per view; the score
takes the best, and verification compares the pictures inside the frames. Views are embedded at
the same size as the whole, in the same batch: at 160 px a pasted picture lost ~0.2 of cosine
against its 288 px original, which left the view useless. So there is one view at most.
"""

import cv2
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
# ...and a photo found on a flat UI may be smaller: AugLy's web feed shows one in 6% of the page.
MIN_PHOTO_AREA = 0.03
_PROBE = 256
# A flat UI frame: at least RING_COLOURED_SHARE of the outer RING pixels within COLOUR_TOLERANCE
# of one of at most FRAME_COLOURS colours, and RING_FLAT_SHARE of them flat (3x3 standard
# deviation under FLAT_STD). A bed, a floor or a wall around a garment is not flat: 4-5% of the
# clothing and ImageNet photos pass (studio backdrops), and then their box is the object on it.
RING = 2
FRAME_COLOURS = 6
COLOUR_TOLERANCE = 12
RING_COLOURED_SHARE = 0.85
RING_FLAT_SHARE = 0.8
FLAT_STD = 1.5
# ...on at least FLAT_SIDES of the four sides: a tab strip or a status bar with its text may
# fill one.
FLAT_SIDES = 3
# A cell of CELL x CELL probe pixels belongs to the photo when more than PHOTO_SHARE of its pixels
# are of no frame colour; the photo's edges are then moved line by line on the same rule.
CELL = 8
PHOTO_SHARE = 0.5
MARGIN = 4
MARGIN_SHARE = 0.2


Box = tuple[int, int, int, int]


def content_box(picture: Image.Image) -> Box:
    """The box of the picture inside its frame (a UI, borders, caption bands), or the whole."""
    rgb = picture.convert("RGB")
    scale = _PROBE / max(rgb.size)
    if scale < 1:
        rgb = rgb.resize(
            (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))),
            Image.Resampling.BOX,
        )
    pixels = np.asarray(rgb, dtype=np.int16)
    h, w = pixels.shape[:2]
    photo = _photo_on_flat_frame(pixels)
    top, bottom, left, right = photo or _trimmed(pixels.mean(axis=2))
    smallest = MIN_PHOTO_AREA if photo else MIN_CONTENT_AREA
    if (bottom - top) * (right - left) < smallest * h * w:
        return (0, 0, picture.width, picture.height)
    fx, fy = picture.width / w, picture.height / h
    return (round(left * fx), round(top * fy), round(right * fx), round(bottom * fy))


def framed_view(picture: Image.Image) -> tuple[Box, Image.Image | None]:
    """The content box, and the picture inside it when a frame was found (else None).

    Without a frame there is no view, so most uploads cost one inference and framed ones two.
    """
    return framed_in(picture, content_box(picture))


def framed_in(picture: Image.Image, box: Box) -> tuple[Box, Image.Image | None]:
    """As framed_view, with the content box already known."""
    left, top, right, bottom = box
    if (right - left) * (bottom - top) < FRAMED_AREA * picture.width * picture.height:
        return box, picture.crop(box)
    return (0, 0, picture.width, picture.height), None


def shared_box(pictures: list[Image.Image], probes: int = 8) -> Box:
    """The content box of pictures that share one frame (a video's): the box of their pixelwise
    maximum, which keeps bars and borders flat and makes any dark or plain picture busy."""
    step = max(1, len(pictures) // probes)
    chosen = [np.asarray(picture.convert("RGB")) for picture in pictures[::step][:probes]]
    return content_box(Image.fromarray(np.max(chosen, axis=0)))


def _trimmed(grey: np.ndarray) -> tuple[int, int, int, int]:
    """Top, bottom, left, right once flat-ish bands are cut from the edges."""
    top, bottom = _trim(grey)
    left, right = _trim(grey[top:bottom].T)
    return top, bottom, left, right


def _photo_on_flat_frame(rgb: np.ndarray) -> tuple[int, int, int, int] | None:
    """Top, bottom, left, right of the photo on a flat UI frame, or None when there is no such frame."""
    colours = _frame_colours(rgb)
    if colours is None:
        return None
    h, w = rgb.shape[:2]
    photo = np.ones((h, w), bool)
    for colour in colours:
        photo &= np.abs(rgb - colour).max(axis=2) > COLOUR_TOLERANCE
    rows, cols = -(-h // CELL), -(-w // CELL)
    padded = np.zeros((rows * CELL, cols * CELL), bool)
    padded[:h, :w] = photo
    share = padded.reshape(rows, CELL, cols, CELL).mean(axis=(1, 3))
    top, bottom, left, right = _largest_sum_rectangle(share - PHOTO_SHARE)
    top, bottom = top * CELL, min(bottom * CELL, h)
    left, right = left * CELL, min(right * CELL, w)
    top, bottom = _settle(photo[:, left:right].mean(axis=1), top, bottom)
    left, right = _settle(photo[top:bottom].mean(axis=0), left, right)
    if not _clean_edges(photo, top, bottom, left, right):
        return None  # an object on a flat backdrop (a garment on a tiled floor), not a photo
    # A letterbox inside the photo's slot (a feed pads pictures with black) is a flat band.
    inner = _trimmed(rgb[top:bottom, left:right].mean(axis=2))
    return top + inner[0], top + inner[1], left + inner[2], left + inner[3]


def _clean_edges(photo: np.ndarray, top: int, bottom: int, left: int, right: int) -> bool:
    """Whether the box has a pasted photo's edges: a page margin just outside every side.

    Within MARGIN lines outside each side, some line must be at most MARGIN_SHARE photo (an edge
    of the image counts as margin). A garment's box cut from inside its outline fails: its
    sleeves and legs go on past every line.
    """
    h, w = photo.shape
    sides = (
        [photo[y, left:right] for y in range(top - 1, max(top - MARGIN, 0) - 1, -1)],
        [photo[y, left:right] for y in range(bottom, min(bottom + MARGIN, h))],
        [photo[top:bottom, x] for x in range(left - 1, max(left - MARGIN, 0) - 1, -1)],
        [photo[top:bottom, x] for x in range(right, min(right + MARGIN, w))],
    )
    return all(not lines or min(line.mean() for line in lines) <= MARGIN_SHARE for lines in sides)


def _settle(shares: np.ndarray, start: int, end: int) -> tuple[int, int]:
    """Move the cell-aligned span [start, end) to the pixel lines where the photo starts and ends."""
    n = len(shares)
    while start > 0 and shares[start - 1] > PHOTO_SHARE:
        start -= 1
    while start < end - 1 and shares[start] <= PHOTO_SHARE:
        start += 1
    while end < n and shares[end] > PHOTO_SHARE:
        end += 1
    while end > start + 1 and shares[end - 1] <= PHOTO_SHARE:
        end -= 1
    return start, end


def _frame_colours(rgb: np.ndarray) -> list[np.ndarray] | None:
    """The few flat colours of the outer ring, or None when the ring is no flat UI."""
    # Flatness first: it turns away most photos, and costs less than counting colours.
    grey = rgb.mean(axis=2).astype(np.float32)
    mean, mean_sq = cv2.blur(grey, (3, 3)), cv2.blur(grey * grey, (3, 3))
    flat = np.sqrt(np.maximum(mean_sq - mean * mean, 0)) <= FLAT_STD
    sides = (flat[:RING], flat[-RING:], flat[:, :RING], flat[:, -RING:])
    if sum(side.mean() >= RING_FLAT_SHARE for side in sides) < FLAT_SIDES:
        return None
    ring = np.concatenate(
        [rgb[:RING].reshape(-1, 3), rgb[-RING:].reshape(-1, 3)]
        + [rgb[:, :RING].reshape(-1, 3), rgb[:, -RING:].reshape(-1, 3)]
    )
    colours: list[np.ndarray] = []
    rest = ring
    while len(colours) < FRAME_COLOURS and len(rest):
        # The most common colour in bins of 8 levels per channel (one integer per bin).
        bins = rest // 8
        keys = (bins[:, 0] << 10) | (bins[:, 1] << 5) | bins[:, 2]
        common = keys == np.argmax(np.bincount(keys, minlength=1 << 15))
        colour = np.median(rest[common], axis=0)
        colours.append(colour)
        rest = rest[np.abs(rest - colour).max(axis=1) > COLOUR_TOLERANCE]
    if len(rest) > (1 - RING_COLOURED_SHARE) * len(ring):
        return None
    return colours


def _largest_sum_rectangle(weights: np.ndarray) -> tuple[int, int, int, int]:
    """Top, bottom, left, right (ends exclusive) of the sub-rectangle with the largest sum.

    Every pair of top and bottom rows at once, then Kadane's scan along the columns.
    """
    h, w = weights.shape
    tops, bottoms = np.triu_indices(h)
    cumulative = np.vstack([np.zeros((1, w)), np.cumsum(weights, axis=0)])
    columns = cumulative[bottoms + 1] - cumulative[tops]  # (pairs, w): each column's sum
    run = np.zeros(len(tops))
    start = np.zeros(len(tops), int)
    best = np.full(len(tops), -np.inf)
    best_left = np.zeros(len(tops), int)
    best_right = np.zeros(len(tops), int)
    for c in range(w):
        restart = run <= 0
        run = np.where(restart, columns[:, c], run + columns[:, c])
        start = np.where(restart, c, start)
        better = run > best
        best = np.where(better, run, best)
        best_left = np.where(better, start, best_left)
        best_right = np.where(better, c + 1, best_right)
    k = int(np.argmax(best))
    return int(tops[k]), int(bottoms[k]) + 1, int(best_left[k]), int(best_right[k])


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
