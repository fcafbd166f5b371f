"""the index in PostgreSQL: each indexed image's embedding (pgvector halfvec, HNSW) and hashes

Only on PostgreSQL with the pgvector extension available (`pg_available_extensions`); on
SQLite, or a PostgreSQL without it, nothing is made and only the hnswlib backend can run.
The table is filled from what is committed already, so it can be made on a live database.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 02:00:00
"""

import json
import struct
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The head of stored features (dupgate/analysis/features.py, formats 1 and 2): magic, format,
# length of a JSON header; the whole picture's float32 embedding follows the header.
_HEAD = struct.Struct("<3sHI")


def _vector_of(data: bytes) -> tuple[int, str]:
    """(signed pHash, pgvector text) of stored features, read as this revision knows them."""
    _, _, length = _HEAD.unpack_from(data)
    start = _HEAD.size + length
    header = json.loads(data[_HEAD.size : start])
    dim = header["dim"]
    embedding = struct.unpack_from(f"<{dim}f", data, start)
    phash = int(header["phash"], 16)
    phash -= (phash >> 63) << 64  # bigint is signed
    return phash, "[" + ",".join(f"{x:.6g}" for x in embedding) + "]"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    available = bind.execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
    ).first()
    if available is None:
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.execute(
        """
        CREATE TABLE index_entries (
            collection varchar(200) NOT NULL,
            kind varchar(10) NOT NULL,
            image_id varchar(36) NOT NULL,
            label bigserial UNIQUE,
            sha256 varchar(64) NOT NULL,
            phash bigint NOT NULL,
            embedding halfvec(512) NOT NULL,
            PRIMARY KEY (collection, kind, image_id)
        )
        """
    )
    # What is committed now: the replay of the change log, as a worker's memory holds it.
    rows = bind.execute(
        sa.text(
            """
            SELECT c.collection, c.kind, c.image_id, c.sha256, c.op, f.data
            FROM index_changes c LEFT JOIN image_features f ON f.sha256 = c.sha256
            ORDER BY c.seq
            """
        )
    ).all()
    live: dict[tuple[str, str, str], tuple[str, bytes]] = {}
    for collection, kind, image_id, sha256, change, data in rows:
        if change == "add":
            live[(collection, kind, image_id)] = (sha256, data)
        else:
            live.pop((collection, kind, image_id), None)
    insert = sa.text(
        "INSERT INTO index_entries (collection, kind, image_id, sha256, phash, embedding)"
        " VALUES (:collection, :kind, :image_id, :sha256, :phash, CAST(:embedding AS halfvec))"
    )
    for (collection, kind, image_id), (sha256, data) in live.items():
        phash, embedding = _vector_of(data)
        bind.execute(
            insert,
            {
                "collection": collection,
                "kind": kind,
                "image_id": image_id,
                "sha256": sha256,
                "phash": phash,
                "embedding": embedding,
            },
        )
    op.execute("CREATE INDEX ix_index_entries_sha256 ON index_entries (collection, kind, sha256)")
    op.execute("CREATE INDEX ix_index_entries_phash ON index_entries (collection, kind, phash)")
    # Inner product on L2-normalised vectors is the cosine; M as hnswlib's (dupgate/index).
    op.execute(
        "CREATE INDEX ix_index_entries_embedding ON index_entries"
        " USING hnsw (embedding halfvec_ip_ops) WITH (m = 16, ef_construction = 128)"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS index_entries")
