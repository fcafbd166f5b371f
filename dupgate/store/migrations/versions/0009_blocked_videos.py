"""blocked videos: a blocklist entry is a picture or a video

A blocked video's SHA-256 names its analysis in video_features, not image_features, so the
entry's foreign key to image_features goes; `media` says which it is and `video_id` what it was
blocked from. Its kept frames are indexed under the kind "blocked_frames", longer than the ten
characters kinds had.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 0002 left the foreign key unnamed: PostgreSQL named it so. SQLite cannot drop a constraint:
# the batch copies the table from this description of it, which has no such key.
_POSTGRES_FK = "blocked_images_sha256_fkey"


def _without_sha256_key() -> sa.Table:
    return sa.Table(
        "blocked_images",
        sa.MetaData(),
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("collection", sa.String(200), sa.ForeignKey("collections.name"), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("image_id", sa.String(36)),
        sa.Column("filename", sa.String(500)),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Index("ix_blocked_images_collection", "collection"),
    )


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    copy = {} if postgres else {"copy_from": _without_sha256_key(), "recreate": "always"}
    with op.batch_alter_table("blocked_images", **copy) as batch:  # type: ignore[arg-type]
        batch.add_column(sa.Column("media", sa.String(10), nullable=False, server_default="image"))
        batch.add_column(sa.Column("video_id", sa.String(36), nullable=True))
    if postgres:
        op.drop_constraint(_POSTGRES_FK, "blocked_images", type_="foreignkey")
        op.alter_column("index_changes", "kind", type_=sa.String(20))
        has_entries = bind.execute(sa.text("SELECT to_regclass('index_entries')")).scalar()
        if has_entries is not None:
            op.execute("ALTER TABLE index_entries ALTER COLUMN kind TYPE varchar(20)")


def downgrade() -> None:
    op.execute("DELETE FROM blocked_images WHERE media = 'video'")
    with op.batch_alter_table("blocked_images") as batch:
        batch.drop_column("video_id")
        batch.drop_column("media")
        batch.create_foreign_key(
            "blocked_images_sha256_fkey", "image_features", ["sha256"], ["sha256"]
        )
