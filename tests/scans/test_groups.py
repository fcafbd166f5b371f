"""The scan engine on real photos: copies grouped with their original, distinct photos alone."""

import itertools
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from PIL import ImageOps

from dupgate.analysis import Embedder, Features
from dupgate.matching.score import DEFAULT_EXACT, DEFAULT_NEAR, cosine, min_cosine, score
from dupgate.scans import Group, ScanImage, find_groups, keeper_rule
from dupgate.scans.groups import light
from tests.conftest import photo
from tests.images import meme_of, resized_jpeg, with_caption
from tests.scans.conftest import DISTINCT, indexed, jpeg_of, rgb, scan_image


@pytest.fixture(scope="module")
def collection(embedder: Embedder) -> list[ScanImage]:
    """The distinct photos, plus named copies of three of them."""
    images = [scan_image(name, photo(name).read_bytes(), embedder) for name in DISTINCT]
    tench, goldfish, shark = (photo(name) for name in DISTINCT[:3])
    meme, _ = meme_of(rgb(goldfish))
    images += [
        scan_image("tench resized", resized_jpeg(tench, 0.5), embedder),
        scan_image("tench captioned", with_caption(tench), embedder),
        scan_image("goldfish meme", jpeg_of(meme), embedder),
        scan_image("shark same bytes", shark.read_bytes(), embedder),
        scan_image("shark mirrored", jpeg_of(ImageOps.mirror(rgb(shark))), embedder),
    ]
    return images


def grouped(groups: list[Group]) -> set[frozenset[str]]:
    return {frozenset(g.images) for g in groups}


def scan(images: list[ScanImage], **options: object) -> list[Group]:
    return find_groups(
        images,
        indexed(images),
        threshold=options.pop("threshold", DEFAULT_NEAR),  # type: ignore[arg-type]
        exact=DEFAULT_EXACT,
        **options,  # type: ignore[arg-type]
    )


def test_copies_are_grouped_with_their_original_and_distinct_photos_stay_alone(
    collection: list[ScanImage],
) -> None:
    groups = scan(collection)

    tench, goldfish, shark = DISTINCT[:3]
    assert grouped(groups) == {
        frozenset({tench, "tench resized", "tench captioned"}),
        frozenset({shark, "shark same bytes", "shark mirrored"}),
        frozenset({goldfish, "goldfish meme"}),
    }
    tiers = {frozenset((p.a, p.b)): p.tier for g in groups for p in g.pairs}
    assert tiers[frozenset((tench, "tench resized"))] == "exact"
    assert tiers[frozenset((tench, "tench captioned"))] == "near"
    assert tiers[frozenset((shark, "shark same bytes"))] == "exact"
    assert all(p.score >= DEFAULT_NEAR for g in groups for p in g.pairs)


def test_groups_are_the_same_as_scoring_every_pair(collection: list[ScanImage]) -> None:
    """The index's candidates and the cosine shortcut lose nothing against all n² scores."""
    for threshold in (0.3, DEFAULT_NEAR, 0.6, DEFAULT_EXACT):
        edges = {
            frozenset((a.key, b.key)): max(
                score(a.features, b.features), score(b.features, a.features)
            )
            for a, b in itertools.combinations(collection, 2)
        }
        expected = {pair: value for pair, value in edges.items() if value >= threshold}

        groups = scan(collection, threshold=threshold)

        found = {frozenset((p.a, p.b)): p.score for g in groups for p in g.pairs}
        assert found.keys() == expected.keys(), threshold
        assert all(abs(found[k] - expected[k]) < 1e-4 for k in found)


def test_a_score_at_the_threshold_needs_the_cosine_the_engine_filters_on(
    collection: list[ScanImage],
) -> None:
    """The engine skips pairs below min_cosine(threshold) in cosine: `score` agrees."""
    for a, b in itertools.permutations(collection, 2):
        value = score(a.features, b.features)
        if a.features.sha256 != b.features.sha256 and value > 0:
            bound = min_cosine(value) - 1e-6
            assert cosine(a.features, b.features) >= bound, (a.key, b.key)


def test_a_pair_marked_not_duplicates_is_never_an_edge(collection: list[ScanImage]) -> None:
    by_key = {image.key: image for image in collection}
    tench = by_key[DISTINCT[0]]
    goldfish = by_key[DISTINCT[1]]
    meme = by_key["goldfish meme"]
    captioned = by_key["tench captioned"]
    refused = {frozenset((goldfish.features.sha256, meme.features.sha256))}

    groups = scan(collection, not_duplicates=refused)

    assert goldfish.key not in {key for g in groups for key in g.images}
    # A refused pair inside a group that other edges hold together stays out of its pairs.
    refused = {frozenset((tench.features.sha256, captioned.features.sha256))}
    (tench_group,) = [g for g in scan(collection, not_duplicates=refused) if tench.key in g.images]
    assert set(tench_group.images) == {tench.key, "tench resized", "tench captioned"}
    assert frozenset((tench.key, captioned.key)) not in {
        frozenset((p.a, p.b)) for p in tench_group.pairs
    }


def test_images_the_index_holds_outside_the_scan_are_ignored(
    collection: list[ScanImage],
) -> None:
    """A server scan may cover part of a collection; the rest of the index is no candidate."""
    index = indexed(collection)
    part = [image for image in collection if image.key != "goldfish meme"]

    groups = find_groups(part, index, threshold=DEFAULT_NEAR, exact=DEFAULT_EXACT)

    assert DISTINCT[1] not in {key for g in groups for key in g.images}
    assert len(groups) == 2


def test_an_image_missing_from_the_index_is_refused(collection: list[ScanImage]) -> None:
    with pytest.raises(ValueError, match="not in the index"):
        find_groups(
            collection, indexed(collection[:-1]), threshold=DEFAULT_NEAR, exact=DEFAULT_EXACT
        )


def test_progress_counts_every_image_once(collection: list[ScanImage]) -> None:
    ticks: list[int] = []
    scan(collection, progress=ticks.append)
    assert sum(ticks) == len(collection)


def test_groups_come_biggest_first_with_the_keeper_first(collection: list[ScanImage]) -> None:
    groups = scan(collection)
    assert [len(g.images) for g in groups] == sorted((len(g.images) for g in groups), reverse=True)
    assert all(g.images[0] == g.keeper for g in groups)
    assert scan(list(reversed(collection))) == groups


# --- the keeper ----------------------------------------------------------------------------------


def copies_of(image: ScanImage, *variants: dict[str, Any]) -> list[ScanImage]:
    """Same bytes (so they group), with the sizes, file sizes and times the test names."""
    out = []
    for number, variant in enumerate(variants):
        f = image.features
        features = replace(
            f, width=variant.get("width", f.width), height=variant.get("height", f.height)
        )
        key = variant.get("key", f"copy {number}")
        out.append(
            ScanImage(
                key, features, variant.get("size", image.size), variant.get("created_at", 0.0)
            )
        )
    return out


@pytest.mark.parametrize(
    ("keeper", "other", "rule"),
    [
        ({"width": 1200, "height": 800}, {"width": 600, "height": 400, "size": 10**7}, "largest"),
        ({"size": 300_000}, {"size": 100_000, "created_at": -5.0}, "least compressed"),
        ({"created_at": 100.0}, {"created_at": 200.0, "key": "a first"}, "earliest"),
        ({"key": "a.jpg"}, {"key": "b.jpg"}, "first by name"),
    ],
)
def test_the_keeper_is_largest_then_least_compressed_then_earliest(
    collection: list[ScanImage], keeper: dict[str, Any], other: dict[str, Any], rule: str
) -> None:
    keeper.setdefault("key", "keeper")
    images = copies_of(collection[0], other, keeper)

    (group,) = scan(images)

    assert group.keeper == keeper["key"]
    assert group.keeper_rule.startswith(rule)


def test_the_keeper_rule_names_both_sides(collection: list[ScanImage]) -> None:
    big, small = copies_of(
        collection[0], {"width": 1200, "height": 800}, {"width": 600, "height": 400}
    )
    assert keeper_rule(big, small) == "largest: 1200×800 px (next 600×400 px)"
    early, late = copies_of(collection[0], {"created_at": 0.25}, {"created_at": 0.75})
    assert keeper_rule(early, late) == (
        "earliest: 1970-01-01 00:00:00.250 UTC (next 1970-01-01 00:00:00.750 UTC), "
        "same size and bytes"
    )


def test_a_large_collection_of_unrelated_images_has_no_groups() -> None:
    """Thousands of random embeddings: every candidate scored, none an edge."""
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((5000, 512)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    images = [
        ScanImage(f"image {number}", features_of(vector, number, rng), 1000, 0.0)
        for number, vector in enumerate(vectors)
    ]
    assert scan(images) == []


def features_of(embedding: np.ndarray, number: int, rng: np.random.Generator) -> Features:
    """Features with only an embedding and a pHash that mean anything."""
    return Features(
        version=1,
        sha256=f"{number:064x}",
        width=100,
        height=100,
        format="PNG",
        phash=int(rng.integers(0, 2**63)),
        embedding=embedding,
        views=np.zeros((0, 512), np.float32),
        thumb=np.zeros((32, 32, 3), np.uint8),
        pdq=bytes(32),
        pdq_quality=0,
    )


def test_light_features_with_full_ones_read_per_batch_give_the_same_groups(
    collection: list[ScanImage],
) -> None:
    # A scan of a collection in PostgreSQL keeps only light features of every image and reads
    # the full ones for the pairs it verifies: the groups and their scores must not change.
    full = {image.key: image.features for image in collection}
    lightened = [replace(image, features=light(image.features)) for image in collection]
    assert all(image.features.local is None for image in lightened)
    asked: list[int] = []

    def read(images: Sequence[ScanImage]) -> list[Features]:
        asked.append(len(images))
        return [full[image.key] for image in images]

    groups = find_groups(
        lightened,
        indexed(collection),
        threshold=DEFAULT_NEAR,
        exact=DEFAULT_EXACT,
        full_features=read,
    )

    assert groups == scan(collection)
    assert asked and sum(asked) < 2 * len(collection)
