"""Local features for verification: ORB keypoints of the picture, its mirror and its framed view.

The verification stage (dupgate/matching/verify.py) asks whether two pictures are the *same
picture*, which a global descriptor cannot say on a catalog of look-alikes. It needs, per image:
- ORB keypoints and binary descriptors of the working picture (at most 512 px), and of its
  mirror image, because ORB is not invariant to a horizontal flip;
- for a picture with a frame (screenshot, meme, border), ORB of the framed view at twice the
  size, so that a small pasted photo still gets keypoints of its own instead of the UI's;
- a small Lab thumbnail of the picture (and of the view), for the dense check that the aligned
  pictures agree everywhere and not only where keypoints are.

ORB needs no weights and takes ~6 ms for both orientations at 512 px on one core (SIFT took
80 ms). Stored compactly (see `to_bytes`): 4 bytes of coordinates and 32 of descriptor per
keypoint, so at most MAX_KEYPOINTS * 36 * 2 = 28.8 KB, and a 3 KB thumbnail; a framed picture
adds its view's keypoints (14.4 KB) and a 12 KB thumbnail.
"""

import struct
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image

MAX_KEYPOINTS = 400
# ORB ranks corners by strength, so a caption's or a logo's hard edges would take the whole
# budget (a captioned photo kept 39 matchable keypoints of 400). So DETECTED corners are found
# and the kept ones are spread over a SPREAD_GRID x SPREAD_GRID grid: each cell's best first.
DETECTED = 3000
SPREAD_GRID = 8
VIEW_SCALE = 2.0
# Side of the dense-check thumbnails, aspect ignored: 32 px is enough to tell a pink dress from an
# orange one on the same bed, and a copy's overlays cover only a few of its cells.
DENSE_SIZE = 32
# The view's thumbnail is finer: the pasted photo is often only part of the content box (a
# phone screenshot keeps its feed around the photo), and at 32 px it was blurred past comparing.
VIEW_DENSE_SIZE = 64
# Coordinates are stored as uint16 in 1/COORD_SCALE pixel: 512 * 64 < 65536.
COORD_SCALE = 64

Box = tuple[int, int, int, int]

_SIZES = struct.Struct("<HHHHHH")  # picture w, h, box l, t, r, b

# OpenCV's own thread pool would compete with ONNX Runtime's and with the other worker
# processes for the same cores; ORB at 512 px is cheap on one thread.
cv2.setNumThreads(1)


@dataclass(frozen=True)
class KeypointSet:
    """Keypoints (n, 2) float32 in working-picture pixels, and their (n, 32) uint8 descriptors."""

    points: np.ndarray
    descriptors: np.ndarray

    def __len__(self) -> int:
        return int(self.points.shape[0])


@dataclass(frozen=True, eq=False)
class LocalFeatures:
    """What verification needs of one picture; coordinates are in its working picture."""

    size: tuple[int, int]  # working picture (w, h)
    box: Box  # the content box: the picture inside any frame, else the whole
    keypoints: KeypointSet
    mirrored: KeypointSet  # of the mirror image, mapped back into the picture's coordinates
    view: KeypointSet  # of the content box at VIEW_SCALE; empty without a frame
    thumb: np.ndarray  # (DENSE_SIZE, DENSE_SIZE, 3) uint8 Lab of the whole picture
    view_thumb: np.ndarray  # (VIEW_DENSE_SIZE, ...) of the content box; (0, 0, 3) without a frame

    @property
    def framed(self) -> bool:
        """Whether a frame was found around the picture."""
        return self.view_thumb.size > 0

    def to_bytes(self) -> bytes:
        """Sizes, three keypoint sets (count, coordinates, descriptors), two thumbnails."""
        parts = [_SIZES.pack(*self.size, *self.box)]
        for keypoints in (self.keypoints, self.mirrored, self.view):
            coords = np.round(keypoints.points * COORD_SCALE).clip(0, 65535).astype("<u2")
            parts += [struct.pack("<H", len(keypoints)), coords.tobytes()]
            parts.append(keypoints.descriptors.astype(np.uint8).tobytes())
        parts.append(struct.pack("<B", 1 if self.framed else 0))
        parts.append(self.thumb.astype(np.uint8).tobytes())
        if self.framed:
            parts.append(self.view_thumb.astype(np.uint8).tobytes())
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> "LocalFeatures":
        """The LocalFeatures that to_bytes wrote; ValueError if the bytes are not that."""
        try:
            w, h, *box = _SIZES.unpack_from(data)
            offset = _SIZES.size
            sets = []
            for _ in range(3):
                (n,) = struct.unpack_from("<H", data, offset)
                offset += 2
                coords = np.frombuffer(data, "<u2", 2 * n, offset).astype(np.float32)
                offset += 4 * n
                descriptors = np.frombuffer(data, np.uint8, 32 * n, offset).reshape(n, 32)
                offset += 32 * n
                sets.append(KeypointSet(coords.reshape(n, 2) / COORD_SCALE, descriptors))
            framed = data[offset]
            offset += 1
            side = DENSE_SIZE * DENSE_SIZE * 3
            thumb = np.frombuffer(data, np.uint8, side, offset).reshape(DENSE_SIZE, DENSE_SIZE, 3)
            offset += side
            view_thumb = np.zeros((0, 0, 3), np.uint8)
            if framed:
                n = VIEW_DENSE_SIZE
                view_thumb = np.frombuffer(data, np.uint8, n * n * 3, offset).reshape(n, n, 3)
                offset += n * n * 3
        except (struct.error, ValueError, IndexError) as e:
            raise ValueError(f"damaged local features: {e}") from None
        if offset != len(data):
            raise ValueError("local features of the wrong length")
        left, top, right, bottom = box
        keypoints, mirrored, view = sets
        return cls((w, h), (left, top, right, bottom), keypoints, mirrored, view, thumb, view_thumb)


# ORB finds nothing within its 31-pixel border anyway; below this side it is not even asked.
ORB_MIN_SIDE = 8


def local_features(picture: Image.Image, box: Box, framed: bool) -> LocalFeatures:
    """Keypoints of the picture, its mirror and (when `framed`) its content box, and thumbnails."""
    rgb = np.asarray(picture.convert("RGB"))
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    width = grey.shape[1]
    keypoints = _orb(grey)
    mirrored = _orb(np.ascontiguousarray(grey[:, ::-1]))
    mirrored.points[:, 0] = width - 1 - mirrored.points[:, 0]
    view = KeypointSet(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8))
    view_thumb = np.zeros((0, 0, 3), np.uint8)
    if framed:
        left, top, right, bottom = box
        crop = grey[top:bottom, left:right]
        scaled = cv2.resize(
            crop, None, fx=VIEW_SCALE, fy=VIEW_SCALE, interpolation=cv2.INTER_LINEAR
        )
        view = _orb(scaled)
        view.points[:] = view.points / VIEW_SCALE + np.array([left, top], np.float32)
        view_thumb = lab_thumbnail(rgb[top:bottom, left:right], VIEW_DENSE_SIZE)
    return LocalFeatures(
        size=(picture.width, picture.height),
        box=box,
        keypoints=keypoints,
        mirrored=mirrored,
        view=view,
        thumb=lab_thumbnail(rgb),
        view_thumb=view_thumb,
    )


def lab_thumbnail(rgb: np.ndarray, side: int = DENSE_SIZE) -> np.ndarray:
    """(side, side, 3) uint8 CIELab (OpenCV's 8-bit scaling), aspect ignored."""
    small = cv2.resize(rgb, (side, side), interpolation=cv2.INTER_AREA)
    return np.asarray(cv2.cvtColor(small, cv2.COLOR_RGB2Lab), dtype=np.uint8)


def _orb(grey: np.ndarray) -> KeypointSet:
    if min(grey.shape[:2]) < ORB_MIN_SIDE:
        # A picture a pixel wide has no keypoints, and ORB's pyramid fails on it.
        return KeypointSet(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8))
    detector: Any = cv2.ORB_create(nfeatures=DETECTED)  # type: ignore[attr-defined]
    found = _spread(detector.detect(grey, None), grey.shape)
    found, descriptors = detector.compute(grey, found)
    points = np.array([k.pt for k in found], dtype=np.float32).reshape(-1, 2)
    if descriptors is None:
        descriptors = np.zeros((0, 32), np.uint8)
    return KeypointSet(points, np.asarray(descriptors, dtype=np.uint8))


def _spread(found: Any, shape: tuple[int, ...]) -> list[Any]:
    """At most MAX_KEYPOINTS keypoints: each grid cell's strongest, then each one's next, ..."""
    if len(found) <= MAX_KEYPOINTS:
        return list(found)
    h, w = shape[:2]
    points = np.array([k.pt for k in found], dtype=np.float32)
    strength = np.array([k.response for k in found], dtype=np.float32)
    column = np.minimum((points[:, 0] * SPREAD_GRID / w).astype(int), SPREAD_GRID - 1)
    row = np.minimum((points[:, 1] * SPREAD_GRID / h).astype(int), SPREAD_GRID - 1)
    cell = row * SPREAD_GRID + column
    order = np.lexsort((-strength, cell))  # by cell, strongest first within it
    rank = np.empty(len(found), dtype=np.int64)
    starts = np.searchsorted(cell[order], np.arange(SPREAD_GRID * SPREAD_GRID))
    rank[order] = np.arange(len(found)) - starts[cell[order]]
    keep = np.lexsort((-strength, rank))[:MAX_KEYPOINTS]
    return [found[i] for i in keep]
