"""Verification: is a candidate the *same picture* as the query, edited or not?

Retrieval by SSCD proposes candidates, but on a catalog of look-alikes (different garments on
one bed, different photos in one screenshot frame) a global descriptor scores strangers as high
as edited copies. A copy and its original differ in a different way: they share a geometrically
consistent set of local matches that covers the picture itself, and once aligned they agree
everywhere except where something was drawn over the copy. Two garments on one bed share only
the bed; two screenshots share only the phone's UI. So:

1. **Align.** Match ORB descriptors (Lowe's ratio test) and fit an affine map from the query's
   picture to the candidate's with RANSAC. Affine covers resizing, cropping, padding, rotation,
   aspect changes and placing into a frame; a flip is tried with the query's mirrored keypoints,
   a framed query with the keypoints of its view.
2. **Coverage** ("covers the picture"). The region the two pictures share is the candidate's
   content box intersected with the query's content box mapped through the alignment (and the
   same the other way round). That region is cut into a GRID x GRID grid; a cell counts when it
   holds at least MIN_CELL_KEYPOINTS keypoints (a textured part of the picture), and it is
   covered when at least one RANSAC inlier falls into it. Coverage is the share of counted cells
   that are covered, the higher of the two sides: an overlay drawn on one side leaves that
   side's cells under it uncovered, not the other's. A shared bed or UI leaves the garment's or
   the photo's textured cells uncovered on both sides.
3. **Agreement.** The query's Lab thumbnail is warped onto the candidate's by the alignment;
   after a global linear fit of lightness (so brightness and contrast edits agree), a pixel
   agrees when its lightness is within LIGHTNESS_TOLERANCE and, where both pixels have colour,
   its hue within HUE_COSINE. Agreement is the share of the shared region that agrees. It catches
   what keypoints miss: an orange and a pink dress, both plain, laid on one patterned blanket.

The verdict is `strength = coverage * agreement`, and 0 when no alignment with MIN_INLIERS was
found or the agreement is under MIN_AGREEMENT: an edited copy scores high on both, a look-alike
fails at least one. Reads only stored features, never pixels. The constants were tuned on the
calibration half of benchmarks/quality's clothing pairs and copies (see its RESULTS.md).
"""

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from dupgate.analysis.local import Box, KeypointSet, LocalFeatures

RATIO = 0.8
MIN_MATCHES = 6
# Fewer inliers than this is no alignment: garments on one bed often share a few bed keypoints.
MIN_INLIERS = 12
RANSAC_PIXELS = 5.0  # in working-picture pixels (about 512 on the long side)
RANSAC_ITERATIONS = 1000
# An alignment that squashes the picture more than this, or shrinks it below MIN_SCALE, is no
# copy's: these bound the singular values of the affine map's linear part.
MAX_ANISOTROPY = 3.0
MIN_SCALE = 0.1
GRID = 8
MIN_CELL_KEYPOINTS = 2
LIGHTNESS_TOLERANCE = 12.0  # in OpenCV's 8-bit L (0-255)
CHROMA_FLOOR = 8.0  # a pixel has colour above this chroma (8-bit a*, b* around 128)
HUE_COSINE = 0.7
CLIPPED_LIGHTNESS = 215.0  # 8-bit L above which hue is not compared
# Below this agreement the aligned pictures differ in too large a part to be one picture: edited
# copies agree on more, since their overlays are smaller than a garment.
MIN_AGREEMENT = 0.7
# The shared region must hold at least this share of the candidate's thumbnail for the dense
# check to mean anything.
MIN_SHARED_AREA = 0.05
# ...and at least this share of one of the two pictures (a crop is all of the query, a photo in
# a screenshot all of the candidate): two banners or captions alike align on a strip alone.
MIN_SHARED_SHARE = 0.5


_matcher: Any = cv2.BFMatcher(cv2.NORM_HAMMING)


@dataclass(frozen=True)
class Verification:
    """How strongly the query is the candidate's picture: strength = coverage * agreement."""

    inliers: int
    coverage: float
    agreement: float

    @property
    def strength(self) -> float:
        """0 for no alignment or too little agreement, up to 1 for the same picture everywhere."""
        if self.agreement < MIN_AGREEMENT:
            return 0.0
        return self.coverage * self.agreement


NONE = Verification(0, 0.0, 0.0)


def verify(query: LocalFeatures, candidate: LocalFeatures, enough: float = 1.0) -> Verification:
    """The strongest verification of the query as the candidate's picture, upright or mirrored.

    The query's keypoints of its whole, of its view (when it has a frame) and of its mirror are
    each aligned with the candidate's keypoints; each alignment is judged on both the whole
    pictures and their content boxes, so that a frame on either side does not count. The search
    stops at the first verification of at least `enough` strength.
    """
    best = NONE
    for keypoints in (query.keypoints, query.view, query.mirrored):
        if best.strength >= enough:
            break
        alignment = align(keypoints, candidate.keypoints)
        if alignment is None:
            continue
        found = _judged(query, candidate, keypoints, alignment)
        if found.strength > best.strength:
            best = found
    return best


def _judged(
    query: LocalFeatures,
    candidate: LocalFeatures,
    keypoints: KeypointSet,
    alignment: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> Verification:
    """The strongest verification one alignment gives, over the regions judged."""
    matrix, query_inliers, candidate_inliers = alignment
    best = NONE
    for query_box, candidate_box in _regions(query, candidate):
        coverage = max(
            _coverage(
                candidate.keypoints.points,
                candidate_inliers,
                candidate_box,
                _mapped(query_box, matrix),
            ),
            _coverage(
                keypoints.points,
                query_inliers,
                query_box,
                _mapped(candidate_box, cv2.invertAffineTransform(matrix)),
            ),
        )
        if _shared_share(query_box, candidate_box, matrix) < MIN_SHARED_SHARE:
            continue
        agreement = _agreement(query, candidate, matrix, candidate_box)
        found = Verification(len(query_inliers), coverage, agreement)
        if found.strength > best.strength:
            best = found
    return best


@dataclass(frozen=True)
class Evidence:
    """Why verification found two pictures the same: the matched keypoints and the shared region.

    Coordinates are in each side's working picture (`query_size`, `candidate_size`, w x h):
    `query_points[i]` matched `candidate_points[i]` under the alignment, and each side's
    `region` is the other's picture mapped onto it (a quadrilateral), clipped by nothing.
    """

    verification: Verification
    mirrored: bool
    query_size: tuple[int, int]
    candidate_size: tuple[int, int]
    query_points: list[tuple[float, float]]
    candidate_points: list[tuple[float, float]]
    query_region: list[tuple[float, float]]
    candidate_region: list[tuple[float, float]]


def evidence(query: LocalFeatures, candidate: LocalFeatures) -> Evidence | None:
    """What `verify` found for the pair, to show a person: the inliers of its strongest
    alignment (upright, framed view or mirrored), or None when no alignment was found."""
    best: tuple[Verification, KeypointSet, tuple[np.ndarray, np.ndarray, np.ndarray]] | None
    best = None
    for keypoints in (query.keypoints, query.view, query.mirrored):
        alignment = align(keypoints, candidate.keypoints)
        if alignment is None:
            continue
        found = _judged(query, candidate, keypoints, alignment)
        if best is None or (found.strength, found.inliers) > (best[0].strength, best[0].inliers):
            best = (found, keypoints, alignment)
    if best is None:
        return None
    found, keypoints, (matrix, query_inliers, candidate_inliers) = best
    whole_query: Box = (0, 0, *query.size)
    whole_candidate: Box = (0, 0, *candidate.size)

    def points(array: np.ndarray) -> list[tuple[float, float]]:
        return [(round(float(x), 1), round(float(y), 1)) for x, y in array]

    return Evidence(
        verification=found,
        mirrored=keypoints is query.mirrored,
        query_size=query.size,
        candidate_size=candidate.size,
        query_points=points(query_inliers),
        candidate_points=points(candidate_inliers),
        query_region=points(_mapped(whole_candidate, cv2.invertAffineTransform(matrix))),
        candidate_region=points(_mapped(whole_query, matrix)),
    )


def _regions(query: LocalFeatures, candidate: LocalFeatures) -> list[tuple[Box, Box]]:
    """The pairs of boxes whose shared part is judged: the wholes, and the content boxes.

    When both pictures have a frame, never the two wholes: two screenshots in one template align
    on the template itself, which covers and agrees everywhere but on the photos. Each picture
    is then judged by its content box against the other's box or whole, since the box found on
    one side may hold less of the picture than on the other (a product on a white backdrop on a
    white page).
    """
    boxes = (query.box, candidate.box)
    wholes = ((0, 0, *query.size), (0, 0, *candidate.size))
    if query.framed and candidate.framed:
        return [boxes, (query.box, wholes[1]), (wholes[0], candidate.box)]
    return [wholes] if boxes == wholes else [wholes, boxes]


def align(
    query: KeypointSet, candidate: KeypointSet
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The affine map query -> candidate and the inlier points on each side, or None."""
    if len(query) < MIN_MATCHES or len(candidate) < MIN_MATCHES:
        return None
    pairs = _matcher.knnMatch(query.descriptors, candidate.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    if len(good) < MIN_MATCHES:
        return None
    source = query.points[[m.queryIdx for m in good]]
    target = candidate.points[[m.trainIdx for m in good]]
    matrix, mask = cv2.estimateAffine2D(
        source,
        target,
        method=cv2.RANSAC,
        ransacReprojThreshold=RANSAC_PIXELS,
        maxIters=RANSAC_ITERATIONS,
        confidence=0.99,
        refineIters=10,
    )
    if matrix is None:
        return None
    inliers = mask.ravel().astype(bool)
    if inliers.sum() < MIN_INLIERS:
        return None
    singular = np.linalg.svd(matrix[:, :2], compute_uv=False)
    if singular.min() < MIN_SCALE or singular.max() > MAX_ANISOTROPY * singular.min():
        return None
    return matrix, source[inliers], target[inliers]


def _shared_share(query_box: Box, candidate_box: Box, matrix: np.ndarray) -> float:
    """The larger share of either box that the other, mapped through the alignment, covers."""
    mapped = _mapped(query_box, matrix)
    area, _ = cv2.intersectConvexConvex(mapped, _corners(candidate_box))
    scale = abs(float(np.linalg.det(matrix[:, :2])))

    def size(box: Box) -> float:
        return max(1.0, float((box[2] - box[0]) * (box[3] - box[1])))

    return max(area / size(candidate_box), area / max(scale, 1e-9) / size(query_box))


def _corners(box: Box) -> np.ndarray:
    left, top, right, bottom = box
    return np.array([[left, top], [right, top], [right, bottom], [left, bottom]], np.float32)


def _mapped(box: Box, matrix: np.ndarray) -> np.ndarray:
    """The box's four corners through the affine map: a convex quadrilateral."""
    return np.asarray(cv2.transform(_corners(box)[None], matrix)[0], dtype=np.float32)


def _inside(points: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Which points lie inside the convex quadrilateral (either winding)."""
    sides = []
    for i in range(4):
        (ax, ay), (bx, by) = quad[i], quad[(i + 1) % 4]
        sides.append((bx - ax) * (points[:, 1] - ay) - (by - ay) * (points[:, 0] - ax))
    signs = np.stack(sides)
    return np.asarray(np.all(signs >= 0, axis=0) | np.all(signs <= 0, axis=0))


def _cells(points: np.ndarray, box: Box) -> np.ndarray:
    left, top, right, bottom = box
    x = ((points[:, 0] - left) / max(right - left, 1e-6) * GRID).astype(int)
    y = ((points[:, 1] - top) / max(bottom - top, 1e-6) * GRID).astype(int)
    inside = (x >= 0) & (x < GRID) & (y >= 0) & (y < GRID)
    return np.asarray((y * GRID + x)[inside])


def _coverage(points: np.ndarray, inliers: np.ndarray, box: Box, shared: np.ndarray) -> float:
    """Share of the textured cells of `box` inside the `shared` quadrilateral that hold an inlier."""
    counted = np.bincount(_cells(points[_inside(points, shared)], box), minlength=GRID * GRID)
    textured = counted >= MIN_CELL_KEYPOINTS
    if not textured.any():
        return 0.0
    covered = np.bincount(_cells(inliers, box), minlength=GRID * GRID) > 0
    return float((textured & covered).sum() / textured.sum())


def _thumb_to_picture(box: Box, thumb: np.ndarray) -> np.ndarray:
    """3x3 map from pixels of a thumbnail of `box` to working-picture pixels, centre to centre.

    Keypoints put pixel i's centre at i, so a thumbnail pixel u covering [u, u+1) * scale of
    the box has its centre at left + (u + 0.5) * scale - 0.5. Without the half pixels a mirrored
    copy's thumbnail landed a whole pixel off its original's.
    """
    left, top, right, bottom = box
    sx, sy = (right - left) / thumb.shape[1], (bottom - top) / thumb.shape[0]
    return np.array(
        [[sx, 0, left + 0.5 * sx - 0.5], [0, sy, top + 0.5 * sy - 0.5], [0, 0, 1]],
        dtype=np.float64,
    )


def _agreement(
    query: LocalFeatures, candidate: LocalFeatures, matrix: np.ndarray, candidate_box: Box
) -> float:
    """Share of the shared region where the aligned Lab thumbnails agree (see the docstring).

    A framed picture is compared by the thumbnail of its view, which shows the picture inside
    the frame at full thumbnail resolution.
    """
    query_thumb, query_area = _dense_thumb(query)
    candidate_thumb, candidate_area = _dense_thumb(candidate)
    # Query thumbnail -> query picture -> candidate picture -> candidate thumbnail.
    to_candidate = np.vstack([matrix, [0, 0, 1]])
    warp = np.linalg.inv(_thumb_to_picture(candidate_area, candidate_thumb))
    warp = (warp @ to_candidate @ _thumb_to_picture(query_area, query_thumb))[:2]
    # Compare at the coarser of the two resolutions: blur the finer side by the scale between.
    magnification = float(np.sqrt(abs(np.linalg.det(warp[:, :2]))))
    side = candidate_thumb.shape[0]
    warped = cv2.warpAffine(
        _soften(query_thumb, 1 / magnification), warp, (side, side), flags=cv2.INTER_LINEAR
    )
    valid = cv2.warpAffine(
        np.ones(query_thumb.shape[:2], np.uint8), warp, (side, side), flags=cv2.INTER_NEAREST
    )
    inside = cv2.erode(valid, np.ones((3, 3), np.uint8)).astype(bool)
    valid = inside & _box_mask(candidate_box, candidate_area, side)
    if valid.sum() < MIN_SHARED_AREA * side * side:
        return 0.0
    mine, theirs = warped[valid], _soften(candidate_thumb, magnification)[valid]
    lightness = _fitted_lightness(mine[:, 0], theirs[:, 0])
    lightness_ok = np.abs(lightness - theirs[:, 0]) <= LIGHTNESS_TOLERANCE
    a, b = mine[:, 1:] - 128, theirs[:, 1:] - 128
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    # Near white a brightened copy's colours clip towards yellow or white: hue means little there.
    unclipped = (mine[:, 0] < CLIPPED_LIGHTNESS) & (theirs[:, 0] < CLIPPED_LIGHTNESS)
    coloured = (na > CHROMA_FLOOR) & (nb > CHROMA_FLOOR) & unclipped
    hue_ok = (a * b).sum(axis=1) >= HUE_COSINE * na * nb
    return float((lightness_ok & (~coloured | hue_ok)).mean())


def _dense_thumb(features: LocalFeatures) -> tuple[np.ndarray, Box]:
    """The thumbnail to compare, and the box of the working picture it shows."""
    if features.framed:
        return features.view_thumb, features.box
    return features.thumb, (0, 0, *features.size)


def _soften(thumb: np.ndarray, coarser: float = 1.0) -> np.ndarray:
    """Float Lab blurred enough that sub-pixel misalignment does not count as disagreement.

    `coarser` > 1 is how much coarser the other thumbnail's pixels are: blur as much more.
    """
    sigma = 0.8 * max(1.0, coarser)
    return np.asarray(cv2.GaussianBlur(thumb.astype(np.float32), (0, 0), sigma))


def _fitted_lightness(mine: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """The query's lightness mapped onto the candidate's by a line fitted twice.

    The second fit leaves out the pixels far off the first line (an overlay, a changed garment),
    so they do not drag the line away from the pixels that do agree. (Matching quantiles instead,
    which follows clipped highlights, lost 1.4 points of recall on the calibration copies.)
    """
    if mine.std() < 1.0:
        return mine + float(np.median(theirs - mine))
    slope, offset = np.polyfit(mine, theirs, 1)
    close = np.abs(mine * slope + offset - theirs) <= 2 * LIGHTNESS_TOLERANCE
    if close.sum() >= 10 and mine[close].std() >= 1.0:
        slope, offset = np.polyfit(mine[close], theirs[close], 1)
    return np.asarray(mine * slope + offset)


def _box_mask(box: Box, area: Box, side: int) -> np.ndarray:
    """The part of a side x side thumbnail of `area` inside `box` (both in picture pixels)."""
    left, top, right, bottom = area
    sx, sy = side / max(right - left, 1), side / max(bottom - top, 1)
    mask = np.zeros((side, side), bool)
    y0, y1 = max(0, round((box[1] - top) * sy)), round((box[3] - top) * sy)
    x0, x1 = max(0, round((box[0] - left) * sx)), round((box[2] - left) * sx)
    mask[y0:y1, x0:x1] = True
    return mask
