"""The index in PostgreSQL: one row per indexed image in `index_entries` (migration 0007), with
its embedding as a pgvector `halfvec` under an HNSW index and its hashes in indexed columns.

Every change to what a collection's index holds goes through `record_index_change`, in the
transaction that commits it: the change log that per-process hnswlib indexes replay, and, where
the database has the table, the row itself. So the table is kept whichever backend reads it,
and a worker of the pgvector backend reads committed rows only: nothing to replay, no copy.
"""

import threading
from collections.abc import Sequence

import numpy as np
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from dupgate.store.models import IndexChange

TABLE = "index_entries"

# Whether each database (by URL) has the table; asked once per process and database.
_has_table: dict[str, bool] = {}
_lock = threading.Lock()


def keeps_vector_index(session: Session) -> bool:
    """Whether the session's database holds `index_entries` (PostgreSQL with pgvector)."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    url = bind.engine.url.render_as_string(hide_password=True)
    with _lock:
        known = _has_table.get(url)
    if known is None:
        known = inspect(session.connection()).has_table(TABLE)
        with _lock:
            _has_table[url] = known
    return known


def vector_literal(vector: np.ndarray) -> str:
    """A vector as pgvector's text form, '[x,y,...]'."""
    return "[" + ",".join(f"{x:.6g}" for x in np.asarray(vector, dtype=np.float32).ravel()) + "]"


def signed_phash(phash: int) -> int:
    """An unsigned 64-bit pHash as PostgreSQL's signed bigint."""
    return phash - ((phash >> 63) << 64)


def record_index_change(
    session: Session,
    *,
    collection: str,
    image_id: str,
    op: str,
    sha256: str | None,
    kind: str = "images",
    vector: tuple[int, np.ndarray] | None = None,
) -> None:
    """An image entered ("add", with its (pHash, embedding)) or left ("remove") an index."""
    assert op in ("add", "remove") and (op == "remove") == (vector is None)
    session.add(
        IndexChange(collection=collection, kind=kind, image_id=image_id, op=op, sha256=sha256)
    )
    if not keeps_vector_index(session):
        return
    key = {"collection": collection, "kind": kind, "image_id": image_id}
    if vector is None:
        session.execute(
            text(
                f"DELETE FROM {TABLE}"
                " WHERE collection = :collection AND kind = :kind AND image_id = :image_id"
            ),
            key,
        )
        return
    phash, embedding = vector
    assert sha256 is not None
    session.execute(
        text(
            f"INSERT INTO {TABLE} (collection, kind, image_id, sha256, phash, embedding)"
            " VALUES (:collection, :kind, :image_id, :sha256, :phash, CAST(:embedding AS halfvec))"
            " ON CONFLICT (collection, kind, image_id) DO UPDATE SET sha256 = excluded.sha256,"
            " phash = excluded.phash, embedding = excluded.embedding"
        ),
        key
        | {"sha256": sha256, "phash": signed_phash(phash), "embedding": vector_literal(embedding)},
    )


def count_entries(session: Session, collection: str, kind: str, at_most: int) -> int:
    """How many images the collection's index holds, counted up to `at_most` (an index scan)."""
    return int(
        session.execute(
            text(
                f"SELECT count(*) FROM (SELECT 1 FROM {TABLE}"
                " WHERE collection = :collection AND kind = :kind LIMIT :at_most) AS s"
            ),
            {"collection": collection, "kind": kind, "at_most": at_most},
        ).scalar_one()
    )


def same_hashes(
    session: Session, collection: str, kind: str, sha256: str, phash: int
) -> list[tuple[str, int, str]]:
    """(image_id, label, sha256) of entries with these bytes or exactly this pHash."""
    rows = session.execute(
        text(
            f"SELECT image_id, label, sha256 FROM {TABLE} WHERE collection = :collection"
            " AND kind = :kind AND (sha256 = :sha256 OR phash = :phash)"
        ),
        {"collection": collection, "kind": kind, "sha256": sha256, "phash": signed_phash(phash)},
    ).all()
    return [(image_id, int(label), found_sha) for image_id, label, found_sha in rows]


def nearest(
    session: Session,
    collection: str,
    kind: str,
    vectors: np.ndarray,
    k: int,
    *,
    exact: bool,
    ef_search: int,
) -> list[list[tuple[str, int, str, float]]]:
    """For each vector, the k entries of largest inner product: (image_id, label, sha256, ip).

    `exact` sorts every entry of the collection (right for small ones); otherwise the HNSW
    index answers, with iterative scans so that the collection filter still yields k rows.
    """
    if not exact:
        session.execute(text(f"SET LOCAL hnsw.ef_search = {int(ef_search)}"))
        session.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
    # `+ 0` hides the ordering from the planner, so the HNSW index is not used for it.
    order = "(e.embedding <#> q.v) + 0" if exact else "e.embedding <#> q.v"
    rows = session.execute(
        text(
            "SELECT q.i, n.image_id, n.label, n.sha256, n.ip"
            " FROM unnest(CAST(:vectors AS halfvec[])) WITH ORDINALITY AS q(v, i)"
            " CROSS JOIN LATERAL ("
            f"  SELECT e.image_id, e.label, e.sha256, -(e.embedding <#> q.v) AS ip FROM {TABLE} e"
            "   WHERE e.collection = :collection AND e.kind = :kind"
            f"  ORDER BY {order} LIMIT :k) AS n"
        ),
        {
            "vectors": [vector_literal(v) for v in np.atleast_2d(vectors)],
            "collection": collection,
            "kind": kind,
            "k": k,
        },
    ).all()
    found: list[list[tuple[str, int, str, float]]] = [
        [] for _ in range(len(np.atleast_2d(vectors)))
    ]
    for position, image_id, label, sha256, ip in rows:
        found[int(position) - 1].append((image_id, int(label), sha256, float(ip)))
    return found


def entries_of(
    session: Session, collection: str, kind: str, image_ids: Sequence[str]
) -> list[tuple[str, int, str]]:
    """(image_id, label, sha256) of those of these images that the index holds."""
    rows = session.execute(
        text(
            f"SELECT image_id, label, sha256 FROM {TABLE} WHERE collection = :collection"
            " AND kind = :kind AND image_id = ANY(:ids)"
        ),
        {"collection": collection, "kind": kind, "ids": list(image_ids)},
    ).all()
    return [(image_id, int(label), sha256) for image_id, label, sha256 in rows]


def entries_by_label(session: Session, labels: Sequence[int]) -> list[tuple[str, int, str]]:
    """(image_id, label, sha256) of the entries with these labels."""
    rows = session.execute(
        text(f"SELECT image_id, label, sha256 FROM {TABLE} WHERE label = ANY(:labels)"),
        {"labels": [int(label) for label in labels]},
    ).all()
    return [(image_id, int(label), sha256) for image_id, label, sha256 in rows]
