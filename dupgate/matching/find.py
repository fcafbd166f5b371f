"""From an image's features to its matches among a collection's committed images."""

from collections.abc import Iterable
from dataclasses import dataclass

from dupgate.analysis import Features
from dupgate.matching.score import score, tier_of
from dupgate.vocabulary import Tier


@dataclass(frozen=True)
class Match:
    """A committed image that duplicates the query, with the combined score and its tier."""

    image_id: str  # the matched image's id, or the video's where kind is "video"
    score: float
    tier: Tier  # exact or near
    kind: str = "image"  # "image" or "video"
    # For a video: where the upload lies in it (seconds), and how much of each matched.
    offset_seconds: float | None = None
    query_coverage: float | None = None
    match_coverage: float | None = None
    relation: str | None = None  # for two videos: same, upload_within_match, match_within_upload


def find_matches(
    query: Features, candidates: Iterable[tuple[str, Features]], exact: float, near: float
) -> list[Match]:
    """Score every candidate and keep those at or above the near threshold, best first."""
    matches = []
    for image_id, features in candidates:
        value = score(query, features)
        tier = tier_of(value, exact, near)
        if tier != Tier.UNIQUE:
            matches.append(Match(image_id, round(value, 4), tier))
    return sorted(matches, key=lambda m: (-m.score, m.image_id))
