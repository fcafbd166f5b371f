"""Grouping videos: the same frames index and video matcher as uploads, over a set of videos.

Each video is matched against all the others (the index of every video's kept frames); a pair
at or above the threshold is an edge, and the groups are the connected components, as images
are grouped. The keeper is the longest video, then the largest picture, then the first key.
"""

from dataclasses import dataclass

from dupgate.analysis.video import VideoFeatures
from dupgate.matching.find import Match
from dupgate.matching.indexes import new_index
from dupgate.matching.video import timeline_of, video_matches


@dataclass(frozen=True)
class VideoGroup:
    """Videos that duplicate each other: the keeper first, and each other video's best match."""

    keeper: str
    keeper_rule: str
    videos: list[str]
    best: dict[str, Match]  # by key, each video's best match inside the group (not the keeper's)


def group_videos(
    videos: dict[str, VideoFeatures], *, threshold: float, exact: float
) -> list[VideoGroup]:
    """The groups of duplicate videos among `videos` (by key), biggest first."""
    index = new_index()
    label = 0
    for key, video in videos.items():
        for number, frame in enumerate(video.frames):
            label += 1
            index.add(label, f"{key}/{number}", frame.features)
    timelines = {key: timeline_of(video) for key, video in videos.items()}
    parent = {key: key for key in videos}

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
            if key not in best or match.score > best[key].score:
                best[key] = match
            parent[root(key)] = root(match.image_id)
    members: dict[str, list[str]] = {}
    for key in videos:
        members.setdefault(root(key), []).append(key)
    groups = []
    for keys in members.values():
        if len(keys) < 2:
            continue
        ranked = sorted(
            keys,
            key=lambda k: (-videos[k].duration, -videos[k].width * videos[k].height, k),
        )
        keeper, runner = ranked[0], ranked[1]
        if videos[keeper].duration != videos[runner].duration:
            rule = (
                f"longest: {videos[keeper].duration:.1f} s (next {videos[runner].duration:.1f} s)"
            )
        else:
            rule = f"largest: {videos[keeper].width}×{videos[keeper].height} px"
        groups.append(VideoGroup(keeper, rule, ranked, {k: best[k] for k in ranked if k in best}))
    return sorted(groups, key=lambda g: (-len(g.videos), g.keeper))
