"""From an image's features to its matches among a collection's committed images."""

from collections.abc import Iterable
from dataclasses import dataclass

from dupgate.analysis import Features
from dupgate.matching.score import score, tier_of
from dupgate.vocabulary import Tier


@dataclass(frozen=True)
class Match:
    """A committed image that duplicates the query, with the combined score and its tier."""

    image_id: str
    score: float
    tier: Tier  # exact or near


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
