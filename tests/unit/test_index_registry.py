"""The index registry: a collection's index as of every committed change, on both backends."""

from dataclasses import replace

import numpy as np
import pytest

from dupgate.matching.indexes import IndexBackend
from dupgate.matching.pgvector import VectorIndexMissing
from dupgate.matching.registry import IndexRegistry
from dupgate.store.db import session_scope
from dupgate.store.models import ImageFeatures
from dupgate.store.vectors import record_index_change
from dupgate.tenancy.collections import PolicyChange, put_collection
from dupgate.tenancy.keys import BOOTSTRAP
from tests.unit.index.features import fake_features


@pytest.mark.parametrize("backend", ["hnswlib", "pgvector"])
def test_the_index_holds_what_the_changes_left(database_url: str, backend: IndexBackend) -> None:
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
            vector = (f.phash, f.embedding) if op == "add" else None
            record_index_change(
                s, collection="shop", image_id=image_id, op=op, sha256=f.sha256, vector=vector
            )

    with session_scope(database_url) as s:
        try:
            index = IndexRegistry(backend).synced(s, "shop")
        except VectorIndexMissing:
            assert backend == "pgvector"
            pytest.skip("this database has no pgvector (SQLite, or PostgreSQL without it)")
        assert len(index) == 1
        # The overwrite's features are found, by the whole picture's embedding and by bytes.
        (entry,) = index.candidates(replace(a2, views=a2.views[:0]))
        assert (entry.image_id, entry.features.sha256) == ("img-a", a2.sha256)
        assert [e.image_id for e in index.candidates(replace(b, views=b.views[:0]))] == ["img-a"]
        label = index.label_of("img-a")
        assert label is not None and index.label_of("img-b") is None
        assert index.entry(label).features.sha256 == a2.sha256
        assert list(index.labelled(["img-a", "img-b"])) == ["img-a"]
        labels, _ = index.nearest_many(np.stack([a2.embedding, b.embedding]), 3)
        assert labels[0][0] == label and set(labels[0][1:]) <= {-1}
