"""videos: committed videos, their analyses, and uploads that are videos

A video's kept frames are image features (image_features, by a key derived from the video's
bytes) indexed under the kind "frames" as "<video id>/<frame number>", so index entries and
changes take longer ids. On SQLite a VARCHAR's length is not enforced: nothing to alter there.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "video_features",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "videos",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("collection", sa.String(200), sa.ForeignKey("collections.name"), nullable=False),
        sa.Column("upload_id", sa.String(36), unique=True),
        sa.Column("sha256", sa.String(64), sa.ForeignKey("video_features.sha256"), nullable=False),
        sa.Column("blob_key", sa.String(300)),
        sa.Column("linked_to", sa.String(36)),
        sa.Column("external_id", sa.String(500)),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("filename", sa.String(500)),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("format", sa.String(20), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_videos_collection", "videos", ["collection"])
    op.create_index("ix_videos_sha256", "videos", ["sha256"])
    op.create_index("ix_videos_linked_to", "videos", ["linked_to"])
    op.create_index("ix_videos_external_id", "videos", ["external_id"])
    with op.batch_alter_table("uploads") as batch:
        batch.add_column(sa.Column("media", sa.String(10), nullable=False, server_default="image"))
        batch.add_column(sa.Column("video_id", sa.String(36), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.alter_column("index_changes", "image_id", type_=sa.String(80))
        has_entries = bind.execute(sa.text("SELECT to_regclass('index_entries')")).scalar()
        if has_entries is not None:
            op.execute("ALTER TABLE index_entries ALTER COLUMN image_id TYPE varchar(80)")


def downgrade() -> None:
    with op.batch_alter_table("uploads") as batch:
        batch.drop_column("video_id")
        batch.drop_column("media")
    op.drop_table("videos")
    op.drop_table("video_features")
