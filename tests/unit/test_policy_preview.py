"""The policy preview decides the last uploads again with the real decide(), and the evidence
of a match comes from the real verification stage: both on uploads the real pipeline decided."""

from pathlib import Path
from typing import Any

import pytest

from dupgate.analysis import load_embedder
from dupgate.matching.verify import MIN_INLIERS
from dupgate.store.blobs import LocalBlobStore
from dupgate.store.db import session_scope
from dupgate.store.models import Collection, Upload
from dupgate.tenancy.collections import (
    InvalidPolicy,
    PolicyChange,
    policy_of,
    proposed_policy,
    put_collection,
)
from dupgate.tenancy.keys import BOOTSTRAP
from dupgate.uploads.evidence import UnknownMatch, match_evidence
from dupgate.uploads.policy_preview import preview_policy
from dupgate.vocabulary import Outcome, Tier
from tests.conftest import photo
from tests.images import resized_jpeg, with_caption
from tests.unit.test_review import upload


@pytest.fixture
def decided(database_url: str, tmp_path: Path) -> dict[str, Upload]:
    """An original, its resized copy (rejected: exact) and its captioned copy (linked: near)."""
    embedder = load_embedder("onnx")
    store = LocalBlobStore(tmp_path / "blobs")
    with session_scope(database_url) as s:
        put_collection(s, "shop", PolicyChange(), BOOTSTRAP)
    tench = photo("n01440764_tench")
    found = {
        name: upload(database_url, store, embedder, "shop", content)
        for name, content in (
            ("original", tench.read_bytes()),
            ("resized", resized_jpeg(tench, scale=0.5)),
            ("captioned", with_caption(tench)),
        )
    }
    assert [(u.action, u.tier) for u in found.values()] == [
        (Outcome.ACCEPTED, Tier.UNIQUE),
        (Outcome.REJECTED, Tier.EXACT),
        (Outcome.LINKED, Tier.NEAR),
    ]
    return found


def preview(database_url: str, **change: Any) -> tuple[int, int, set[tuple[str, str, str]]]:
    with session_scope(database_url) as s:
        collection = s.get(Collection, "shop")
        assert collection is not None
        found = preview_policy(s, "shop", proposed_policy(s, collection, PolicyChange(**change)))
        changes = {(e.upload_id, str(e.was[0]), str(e.would_be[0])) for e in found.examples}
        assert found.changed == len(changes) == sum(found.by_change.values())
        return found.considered, found.changed, changes


def test_the_current_policy_decides_every_upload_as_it_was(
    database_url: str, decided: dict[str, Upload]
) -> None:
    assert preview(database_url) == (3, 0, set())


def test_a_higher_exact_threshold_turns_the_resized_copy_into_a_link(
    database_url: str, decided: dict[str, Upload]
) -> None:
    resized = decided["resized"].id
    assert preview(database_url, exact=1.0) == (3, 1, {(resized, "rejected", "linked")})


def test_holding_near_copies_holds_the_captioned_one_only(
    database_url: str, decided: dict[str, Upload]
) -> None:
    captioned = decided["captioned"].id
    result = preview(database_url, actions={"near": "hold"})
    assert result == (3, 1, {(captioned, "linked", "held")})


def test_a_preview_writes_nothing_and_refuses_what_a_save_would(
    database_url: str, decided: dict[str, Upload]
) -> None:
    preview(database_url, exact=1.0, actions={"near": "hold"})
    with session_scope(database_url) as s:
        collection = s.get(Collection, "shop")
        assert collection is not None
        assert policy_of(collection).version == 1
        with pytest.raises(InvalidPolicy, match="must not be above"):
            proposed_policy(s, collection, PolicyChange(exact=0.3, near=0.5))


def test_the_evidence_of_a_captioned_copy_is_its_verified_keypoints_on_both_pictures(
    database_url: str, decided: dict[str, Upload]
) -> None:
    captioned, original = decided["captioned"], decided["original"]
    with session_scope(database_url) as s:
        held = s.get(Upload, captioned.id)
        assert held is not None
        found = match_evidence(s, held, str(original.image_id)).found
        assert found is not None
        assert found.verification.inliers == len(found.query_points) >= MIN_INLIERS
        assert len(found.query_points) == len(found.candidate_points)
        assert found.verification.strength > 0 and not found.mirrored
        assert len(found.query_region) == len(found.candidate_region) == 4
        for (x, y), (w, h) in (
            (found.query_points[0], found.query_size),
            (found.candidate_points[0], found.candidate_size),
        ):
            assert 0 <= x <= w and 0 <= y <= h
        with pytest.raises(UnknownMatch):
            match_evidence(s, held, str(captioned.image_id))
