"""Whether a video copies another, from the pairs of their frames that matched. No I/O.

Two videos are the same when enough of their frames match *in order*: the matched frames must
lie on one line t_match = speed * t_query + offset (a trim shifts it, a speed change tilts it).
Frames of one scene filmed twice may each look alike, but they do not line up on one line
across the whole clip, since two recordings never move alike; what lines up is counted both
ways (coverage: the share of each video's sampled seconds that matched), so a short clip cut
from a longer video is near, "contained" in it, and the decision says which way.

Frame pairs come two ways: a sampled frame of the query and a sampled frame of the candidate
that score as the same picture (the image matcher), and a sampled frame of the query and a
moment of the candidate with the same print (every decoded frame has one). The second finds a
trimmed or cut copy whose samples fall between its source's, where a moving shot has changed.

- exact: the same video re-encoded or resized: the same speed, no offset, about the same
  duration, nearly every frame matched both ways, and most of them exact as images.
- near: an edited copy, or one video contained in the other.
"""

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from dupgate.analysis.embedding import l2_normalise
from dupgate.analysis.features import Features
from dupgate.analysis.video import PRINT_SIDE, VideoFeatures
from dupgate.index.collection import CollectionIndex
from dupgate.matching.find import Match
from dupgate.matching.indexes import ImageIndex, new_index
from dupgate.matching.score import EXACT_FLOOR, VERIFIED_FLOOR, score
from dupgate.vocabulary import Tier

# Calibrated on the tuning split of benchmarks/video (see its RESULTS.md).
MIN_COVERAGE = 0.8  # of one side's sampled seconds (the clip's, for a clip), for near
MIN_FRAMES = 3  # matched frames in order, at least (fewer where a video has fewer)
EXACT_COVERAGE = 0.9  # both ways, for exact
EXACT_FRAME_SHARE = 0.8  # of the matched frames that are exact as images
_EXACT_MAX_SPEED_CHANGE = 0.02
_EXACT_MAX_DURATION_CHANGE = 0.05
_SPEEDS = (0.5, 2.0)  # speed changes looked for
# Prints (dupgate/analysis/video.py): on the tuning split of benchmarks/video, every sample of
# the chair's and the doorknob's re-encoded, halved, trimmed and sped-up copies had a moment of
# its source at >= 0.985, and no sample of one clip reached 0.9 with the other (the closest:
# a letterboxed doorknob against the chair's bars, 0.89). A print pair is the same picture,
# unedited: it scores in the verified band, higher the closer the prints (so that a frame's
# best moment is the one its line is fitted to), and below any pair exact as images.
PRINT_SAME = 0.97
PRINT_SCORES = (0.85, 0.94)
_PRINTS_PER_FRAME = 3  # the best few of a still shot, whose moments all look alike


class Relation:
    """Which way two matched videos relate."""

    SAME = "same"
    UPLOAD_WITHIN_MATCH = "upload_within_match"  # the upload is a clip of the matched video
    MATCH_WITHIN_UPLOAD = "match_within_upload"  # the matched video is a clip of the upload


@dataclass(frozen=True)
class Timeline:
    """A video's kept frames: their times and how many grid samples each stands for."""

    duration: float
    interval: float
    times: tuple[float, ...]
    weights: tuple[int, ...]
    # Every decoded frame's print, normalised (zero mean, unit length), and its time; empty for
    # videos analysed before prints.
    prints: np.ndarray = field(
        default_factory=lambda: np.zeros((0, PRINT_SIDE**2), np.float32), compare=False
    )
    print_times: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32), compare=False)

    @property
    def samples(self) -> int:
        return sum(self.weights)


@dataclass(frozen=True)
class FramePair:
    """A frame of the query (by number) that matched a frame of the candidate, and the score."""

    query: int
    match: int
    score: float
    at: float | None = None  # the moment of the candidate matched, where not its frame's time


@dataclass(frozen=True)
class Alignment:
    """How the query lines up with a candidate video, and the score and tier that follow."""

    score: float
    tier: Tier
    query_coverage: float
    match_coverage: float
    offset_seconds: float  # where the query's start lies in the candidate (negative: before it)
    speed: float
    frames: int  # matched frames in order
    relation: str


def align(
    query: Timeline, match: Timeline, pairs: Sequence[FramePair], exact: float, near: float
) -> Alignment | None:
    """The best line through the verified frame pairs, scored; None if no line holds enough."""
    verified = [p for p in pairs if p.score >= VERIFIED_FLOOR]
    if not verified:
        return None
    tq = np.array([query.times[p.query] for p in verified])
    tc = np.array([_moment(p, match) for p in verified])
    scores = np.array([p.score for p in verified])
    tolerance = max(query.interval, match.interval) * 1.01
    best: tuple[float, float, float] | None = None  # support, speed, offset
    for speed, offset in _hypotheses(tq, tc, query.interval):
        inliers = np.abs(tc - (speed * tq + offset)) <= tolerance
        support = _support(verified, inliers, scores, query)
        if best is None or support > best[0] + 1e-9:
            best = (support, speed, offset)
    assert best is not None
    _, speed, offset = best
    inliers = np.abs(tc - (speed * tq + offset)) <= tolerance
    chosen = _one_per_frame(verified, inliers)
    # Print pairs give the candidate's moment to the frame; a pair of sampled frames may be up
    # to half an interval off it. So the line goes through the print pairs where there are
    # some: at the same speed, their median offset (a slow shot's prints cannot tell
    # neighbouring frames apart, so a line fitted to a few of them would tilt).
    printed = [p for p in verified if p.at is not None]
    printed = _one_per_frame(
        printed, np.abs(_times(printed, query, match, speed) - offset) <= tolerance
    )
    fitted = printed if len(printed) >= 2 else chosen
    if fitted is printed and speed == 1.0:
        offset = float(np.median(_times(printed, query, match, 1.0)))
    elif len({p.query for p in fitted}) >= 2:
        a, b = np.polyfit(
            [query.times[p.query] for p in fitted],
            [_moment(p, match) for p in fitted],
            1,
        )
        if _SPEEDS[0] <= a <= _SPEEDS[1]:
            speed, offset = float(a), float(b)
    query_covered = sum(query.weights[q] for q in {p.query for p in chosen})
    match_covered = sum(match.weights[m] for m in {p.match for p in chosen})
    qc = query_covered / max(1, query.samples)
    mc = min(1.0, match_covered / max(1, match.samples))
    frames = len({p.query for p in chosen})
    needed = min(MIN_FRAMES, len(query.times), len(match.times))
    frame_scores = np.array([p.score for p in chosen])
    coverage = max(qc, mc)
    if frames < needed or coverage < MIN_COVERAGE:
        value = VERIFIED_FLOOR * 0.999 * coverage * min(1.0, frames / max(1, needed))
        return Alignment(value, Tier.UNIQUE, qc, mc, offset, speed, frames, Relation.SAME)
    relation = Relation.SAME
    if qc >= MIN_COVERAGE and mc < MIN_COVERAGE:
        relation = Relation.UPLOAD_WITHIN_MATCH
    elif mc >= MIN_COVERAGE and qc < MIN_COVERAGE:
        relation = Relation.MATCH_WITHIN_UPLOAD
    exact_share = float((frame_scores >= EXACT_FLOOR).mean())
    duration_change = abs(query.duration / max(match.duration, 1e-6) - 1)
    is_exact = (
        abs(speed - 1) <= _EXACT_MAX_SPEED_CHANGE
        and abs(offset) <= max(query.interval, match.interval) / 2
        and duration_change <= _EXACT_MAX_DURATION_CHANGE
        and min(qc, mc) >= EXACT_COVERAGE
        and exact_share >= EXACT_FRAME_SHARE
    )
    if is_exact:
        value = EXACT_FLOOR + (1 - EXACT_FLOOR) * 0.99 * min(qc, mc) * exact_share
    else:
        # The verified band of the image score, weighed by how much of the video matched.
        strength = float(
            np.clip((frame_scores.mean() - VERIFIED_FLOOR) / (EXACT_FLOOR - VERIFIED_FLOOR), 0, 1)
        )
        value = VERIFIED_FLOOR + (EXACT_FLOOR - VERIFIED_FLOOR) * 0.999 * strength * coverage
    tier = (
        Tier.EXACT if value >= exact and is_exact else Tier.NEAR if value >= near else Tier.UNIQUE
    )
    return Alignment(round(value, 4), tier, qc, mc, offset, speed, frames, relation)


def _moment(pair: FramePair, match: Timeline) -> float:
    """The time in the candidate that the pair matched: its print's moment, or its frame's."""
    return match.times[pair.match] if pair.at is None else pair.at


def _times(
    pairs: Sequence[FramePair], query: Timeline, match: Timeline, speed: float
) -> np.ndarray:
    """Where each pair puts the query's start in the candidate, on a line of this speed."""
    return np.array([_moment(p, match) - speed * query.times[p.query] for p in pairs])


def _hypotheses(tq: np.ndarray, tc: np.ndarray, interval: float) -> list[tuple[float, float]]:
    """Candidate lines: every pair at the same speed, and lines through two pairs far apart."""
    lines = {(1.0, round(float(c - q), 3)) for q, c in zip(tq, tc, strict=True)}
    order = np.argsort(tq)
    n = len(order)
    step = max(1, n // 40)  # bounded: at most ~40 x 40 pairs of pairs
    for i in range(0, n, step):
        for j in range(i + 1, n, step):
            a, b = order[i], order[j]
            dq = tq[b] - tq[a]
            if dq < 2 * interval:
                continue
            speed = (tc[b] - tc[a]) / dq
            if _SPEEDS[0] <= speed <= _SPEEDS[1] and abs(speed - 1) > _EXACT_MAX_SPEED_CHANGE:
                lines.add((round(float(speed), 4), round(float(tc[a] - speed * tq[a]), 3)))
    return sorted(lines)


def _support(
    pairs: Sequence[FramePair], inliers: np.ndarray, scores: np.ndarray, query: Timeline
) -> float:
    """The weighted score of the best inlier of each query frame."""
    best: dict[int, float] = {}
    for pair, inlier, value in zip(pairs, inliers, scores, strict=True):
        if inlier and value > best.get(pair.query, 0.0):
            best[pair.query] = float(value)
    return sum(query.weights[q] * value for q, value in best.items())


def _one_per_frame(pairs: Sequence[FramePair], inliers: np.ndarray) -> list[FramePair]:
    """The best inlier pair of each query frame."""
    chosen: list[FramePair] = []
    ranked = sorted(
        (p for p, inlier in zip(pairs, inliers, strict=True) if inlier), key=lambda p: -p.score
    )
    taken: set[int] = set()
    for pair in ranked:
        if pair.query in taken:
            continue
        chosen.append(pair)
        taken.add(pair.query)
    return sorted(chosen, key=lambda p: p.query)


# Nearest frames asked for each frame of an upload: a video's neighbouring frames crowd the
# nearest ones, so fewer than an image's 20 are enough and keep the decision short.
FRAME_CANDIDATES = 10


def timeline_of(video: VideoFeatures) -> Timeline:
    """The times and weights of a video's kept frames, and its prints."""
    return timeline(
        video.duration,
        video.interval,
        [(f.time, f.weight) for f in video.frames],
        video.prints,
        video.print_times,
    )


def timeline(
    duration: float,
    interval: float,
    frames: Sequence[tuple[float, int]],
    prints: np.ndarray,
    print_times: np.ndarray,
) -> Timeline:
    """A Timeline from stored facts: (time, weight) of each kept frame, and the raw prints."""
    centred = prints.astype(np.float32) - prints.mean(axis=1, keepdims=True, dtype=np.float32)
    return Timeline(
        duration,
        interval,
        tuple(t for t, _ in frames),
        tuple(w for _, w in frames),
        l2_normalise(centred),
        print_times.astype(np.float32),
    )


def print_pairs(query: Timeline, match: Timeline) -> list[FramePair]:
    """Pairs of a query frame and a moment of the candidate with the same print: for each kept
    frame of the query, the best few moments at PRINT_SAME or more."""
    if not len(query.print_times) or not len(match.print_times) or not query.times:
        return []
    times = np.array(query.times, np.float32)
    at = np.abs(query.print_times[None, :] - times[:, None]).argmin(axis=1)
    similar = query.prints[at] @ match.prints.T  # (query frames, candidate moments)
    kept = np.array(match.times, np.float32)
    pairs: list[FramePair] = []
    for number, row in enumerate(similar):
        best = np.argsort(-row)[:_PRINTS_PER_FRAME]
        for moment in best[row[best] >= PRINT_SAME]:
            t = float(match.print_times[moment])
            nearest = int(np.abs(kept - t).argmin())
            closeness = (float(row[moment]) - PRINT_SAME) / (1 - PRINT_SAME)
            low, high = PRINT_SCORES
            pairs.append(FramePair(number, nearest, low + (high - low) * closeness, at=t))
    return pairs


def frames_index(videos: Mapping[str, VideoFeatures]) -> CollectionIndex[Features]:
    """An in-process index of every kept frame of these videos, as "<key>/<frame number>"
    (the form frame_pairs reads), for matching a set of videos against each other."""
    index = new_index()
    label = 0
    for key, video in videos.items():
        for number, frame in enumerate(video.frames):
            label += 1
            index.add(label, f"{key}/{number}", frame.features)
    return index


def frame_pairs(index: ImageIndex, video: VideoFeatures) -> dict[str, list[FramePair]]:
    """For each committed video some frame of `video` is a candidate of, the scored pairs.

    The index holds videos' frames as "<video id>/<frame number>".
    """
    found: dict[str, list[FramePair]] = defaultdict(list)
    for number, frame in enumerate(video.frames):
        for entry in index.candidates(frame.features, FRAME_CANDIDATES):
            video_id, _, matched = entry.image_id.rpartition("/")
            found[video_id].append(
                FramePair(number, int(matched), score(frame.features, entry.features))
            )
    return found


def video_matches(
    index: ImageIndex,
    video: VideoFeatures,
    timeline: Callable[[str], Timeline | None],
    exact: float,
    near: float,
    same_bytes: set[str] = frozenset(),  # type: ignore[assignment]
) -> list[Match]:
    """The videos of the index that `video` copies, best first; `same_bytes` score 1."""
    query = timeline_of(video)
    found = frame_pairs(index, video)
    matches: list[Match] = []
    for video_id in sorted(same_bytes | set(found)):
        candidate = timeline(video_id)
        if candidate is None:
            continue
        if video_id in same_bytes:
            alignment: Alignment | None = Alignment(
                1.0, Tier.EXACT, 1.0, 1.0, 0.0, 1.0, len(query.times), Relation.SAME
            )
        else:
            pairs = found[video_id] + print_pairs(query, candidate)
            alignment = align(query, candidate, pairs, exact, near)
        if alignment is None or alignment.tier == Tier.UNIQUE:
            continue
        matches.append(
            Match(
                video_id,
                alignment.score,
                alignment.tier,
                kind="video",
                offset_seconds=round(alignment.offset_seconds, 2),
                query_coverage=round(alignment.query_coverage, 3),
                match_coverage=round(alignment.match_coverage, 3),
                relation=alignment.relation,
            )
        )
    return sorted(matches, key=lambda m: (-m.score, m.image_id))
