"""Grouping videos: the same frames index and video matcher as uploads, over a set of videos.

Each video is matched against all the others (the index of every video's kept frames); a pair
at or above the threshold is an edge, and the groups are the connected components, as images
are grouped. The keeper is the longest video, then the largest picture, then the earliest
(where the caller knows when each came), then the first key.
"""

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dupgate.analysis.video import VideoFeatures
from dupgate.matching.find import Match
from dupgate.matching.video import Relation, frames_index, timeline_of, video_matches

# A match's relation, said of a pair's two videos: `a` is the one matched against the others.
_RELATIONS = {
    Relation.SAME: "same",
    Relation.UPLOAD_WITHIN_MATCH: "a_within_b",
    Relation.MATCH_WITHIN_UPLOAD: "b_within_a",
}


@dataclass(frozen=True)
class VideoGroup:
    """Videos that duplicate each other: the keeper first, and each other video's best match."""

    keeper: str
    keeper_rule: str
    videos: list[str]
    best: dict[str, Match]  # by key, each video's best match inside the group (not the keeper's)

    def pairs(self) -> list[dict[str, Any]]:
        """Each video's best match as a pair (once per two videos), best first, as a scan stores
        them: a, b, score, tier, where a starts in b, how they relate and how much of each
        matched."""
        pairs: dict[frozenset[str], dict[str, Any]] = {}
        for key, match in self.best.items():
            both = frozenset((key, match.image_id))
            if both in pairs and pairs[both]["score"] >= match.score:
                continue
            pairs[both] = {
                "a": key,
                "b": match.image_id,
                "score": match.score,
                "tier": match.tier,
                "offset_seconds": match.offset_seconds,
                "relation": _RELATIONS.get(match.relation or "", match.relation),
                "a_coverage": match.query_coverage,
                "b_coverage": match.match_coverage,
            }
        return sorted(pairs.values(), key=lambda p: (-p["score"], p["a"], p["b"]))


def group_videos(
    videos: dict[str, VideoFeatures],
    *,
    threshold: float,
    exact: float,
    not_duplicates: Collection[frozenset[str]] = (),
    created_at: Mapping[str, float] | None = None,
) -> list[VideoGroup]:
    """The groups of duplicate videos among `videos` (by key), biggest first.

    `not_duplicates` holds pairs of SHA-256s a person said are not duplicates: they never form
    an edge. `created_at` (unix seconds by key) breaks a tie of length and size: the earlier
    video is kept, as a scan of images keeps the earliest of equals.
    """
    index = frames_index(videos)
    timelines = {key: timeline_of(video) for key, video in videos.items()}
    parent = {key: key for key in videos}
    refused = set(not_duplicates)

    def root(key: str) -> str:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    best: dict[str, Match] = {}
    for key, video in videos.items():
        for match in video_matches(index, video, timelines.get, exact, threshold):
            if match.image_id == key:
                continue
            if refused and frozenset((video.sha256, videos[match.image_id].sha256)) in refused:
                continue
            if key not in best or match.score > best[key].score:
                best[key] = match
            parent[root(key)] = root(match.image_id)
    members: dict[str, list[str]] = {}
    for key in videos:
        members.setdefault(root(key), []).append(key)
    when = created_at or {}
    groups = []
    for keys in members.values():
        if len(keys) < 2:
            continue
        ranked = sorted(
            keys,
            key=lambda k: (
                -videos[k].duration,
                -videos[k].width * videos[k].height,
                when.get(k, 0.0),
                k,
            ),
        )
        keeper, runner = ranked[0], ranked[1]
        groups.append(
            VideoGroup(
                keeper,
                _rule(videos[keeper], videos[runner], when.get(keeper), when.get(runner)),
                ranked,
                {k: best[k] for k in ranked if k in best},
            )
        )
    return sorted(groups, key=lambda g: (-len(g.videos), g.keeper))


def _rule(
    keeper: VideoFeatures, runner: VideoFeatures, kept_at: float | None, next_at: float | None
) -> str:
    """The first rule that put `keeper` before `runner`, in words a person reads."""
    if keeper.duration != runner.duration:
        return f"longest: {keeper.duration:.1f} s (next {runner.duration:.1f} s)"
    if keeper.width * keeper.height != runner.width * runner.height:
        return (
            f"largest: {keeper.width}×{keeper.height} px "
            f"(next {runner.width}×{runner.height} px), same length"
        )
    if kept_at is not None and next_at is not None and kept_at != next_at:
        return f"earliest: {_when(kept_at)} (next {_when(next_at)}), same length and size"
    return "first by name: same length and size"


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:23] + " UTC"
