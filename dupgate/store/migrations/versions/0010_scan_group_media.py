"""scan groups of videos: a scan groups a collection's videos too

`media` says whether a group's members (the `images` column) are image ids or video ids. Every
group made before was one of images.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-12 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("scan_groups") as batch:
        batch.add_column(sa.Column("media", sa.String(10), nullable=False, server_default="image"))


def downgrade() -> None:
    # An older version would read a video group's ids as images': it cannot keep them.
    op.execute("DELETE FROM scan_groups WHERE media = 'video'")
    with op.batch_alter_table("scan_groups") as batch:
        batch.drop_column("media")
