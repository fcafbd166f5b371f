"""The index registry: a collection's index caught up from the database's change log."""

from dataclasses import replace

import numpy as np

from dupgate.matching.registry import IndexRegistry
from dupgate.store.db import session_scope
from dupgate.store.models import ImageFeatures, IndexChange
from dupgate.tenancy.collections import PolicyChange, put_collection
from dupgate.tenancy.keys import BOOTSTRAP
from tests.unit.index.features import fake_features


def test_a_replayed_change_log_matches_the_changes_applied_one_by_one(database_url: str) -> None:
    rng = np.random.default_rng(1)
    a, b, a2 = (fake_features(rng, sha) for sha in ("a" * 64, "b" * 64, "c" * 64))
    with session_scope(database_url) as s:
        put_collection(s, "shop", PolicyChange(), BOOTSTRAP)
        for f in (a, b, a2):
            s.add(ImageFeatures(sha256=f.sha256, version=f.version, data=f.to_bytes()))
        for image_id, op, f in (
            ("img-a", "add", a),
            ("img-b", "add", b),
            ("img-a", "add", a2),  # an overwrite: img-a gets new content
            ("img-b", "remove", b),
        ):
            s.add(IndexChange(collection="shop", image_id=image_id, op=op, sha256=f.sha256))

    with session_scope(database_url) as s:
        index = IndexRegistry().synced(s, "shop")

    assert len(index) == 1
    (entry,) = index.candidates(replace(a2, views=a2.views[:0]))
    assert (entry.image_id, entry.features.sha256) == ("img-a", a2.sha256)
    assert index.last_seq == 4
