"""The video decision from frame pairs: lines in time, coverage both ways, tiers. No decoding."""

from dupgate.matching.score import DEFAULT_EXACT, DEFAULT_NEAR
from dupgate.matching.video import FramePair, Relation, Timeline, align
from dupgate.vocabulary import Tier


def timeline(seconds: int) -> Timeline:
    """A video with one kept frame a second."""
    return Timeline(float(seconds), 1.0, tuple(float(t) for t in range(seconds)), (1,) * seconds)


def aligned(query: Timeline, match: Timeline, pairs: list[FramePair]):  # type: ignore[no-untyped-def]
    return align(query, match, pairs, DEFAULT_EXACT, DEFAULT_NEAR)


def test_every_frame_exact_at_the_same_time_is_an_exact_copy() -> None:
    pairs = [FramePair(i, i, 0.97) for i in range(10)]
    found = aligned(timeline(10), timeline(10), pairs)
    assert found is not None and found.tier == Tier.EXACT
    assert (found.query_coverage, found.match_coverage, found.relation) == (1.0, 1.0, Relation.SAME)


def test_verified_but_not_exact_frames_make_a_near_copy() -> None:
    found = aligned(timeline(10), timeline(10), [FramePair(i, i, 0.8) for i in range(10)])
    assert found is not None and found.tier == Tier.NEAR


def test_a_clip_cut_from_a_longer_video_is_contained_in_it_at_its_offset() -> None:
    pairs = [FramePair(i, i + 12, 0.9) for i in range(6)]
    found = aligned(timeline(6), timeline(30), pairs)
    assert found is not None and found.tier == Tier.NEAR
    assert found.relation == Relation.UPLOAD_WITHIN_MATCH
    assert round(found.offset_seconds, 3) == 12.0
    assert found.query_coverage == 1.0 and found.match_coverage == 0.2


def test_a_longer_upload_that_contains_a_committed_clip_says_so() -> None:
    pairs = [FramePair(i + 12, i, 0.9) for i in range(6)]
    found = aligned(timeline(30), timeline(6), pairs)
    assert found is not None and found.relation == Relation.MATCH_WITHIN_UPLOAD


def test_a_speed_change_is_a_tilted_line() -> None:
    # The copy plays 1.25x faster: its second t shows the original's 1.25 t.
    pairs = [FramePair(i, round(1.25 * i), 0.85) for i in range(12)]
    found = aligned(timeline(12), timeline(16), pairs)
    assert found is not None and found.tier == Tier.NEAR
    assert abs(found.speed - 1.25) < 0.05


def test_frames_that_match_out_of_order_are_not_a_copy() -> None:
    # A scene filmed twice: frames look alike, but at times that lie on no one line.
    order = [7, 2, 9, 0, 5, 1, 8, 3, 6, 4]
    pairs = [FramePair(i, j, 0.7) for i, j in enumerate(order)]
    found = aligned(timeline(10), timeline(10), pairs)
    assert found is None or found.tier == Tier.UNIQUE


def test_too_few_frames_on_the_line_are_not_a_copy() -> None:
    pairs = [FramePair(i, i, 0.9) for i in range(5)]  # half of each video
    found = aligned(timeline(10), timeline(10), pairs)
    assert found is not None and found.tier == Tier.UNIQUE


def test_unverified_pairs_count_for_nothing() -> None:
    assert aligned(timeline(10), timeline(10), [FramePair(i, i, 0.3) for i in range(10)]) is None
