"""scrub webhook answers: attempts keep a short error class, never what a receiver answered

Before 0005 a failed attempt kept up to 500 characters of the receiver's answer (or of the
connection error), which a tenant could read back from an internal address. Each is replaced by
the class the sender now records. There is nothing to undo: the answers are gone.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:00:00
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What dupgate.webhooks records (http_500, timeout, connection_refused, ...).
_ERROR_CLASS = re.compile(r"[a-z0-9_]{1,40}")
_BATCH = 1000


def error_class(status_code: int | None, error: str) -> str:
    """The class of an attempt's stored error: its HTTP status, or what its exception says."""
    if status_code is not None:
        return f"http_{status_code}"
    text = error.lower()
    for words, name in (
        (("timeout", "timed out"), "timeout"),
        (("refused",), "connection_refused"),
        (("ssl", "certificate", "tls"), "tls_error"),
        (("protocol",), "protocol_error"),
    ):
        if any(word in text for word in words):
            return name
    return "connection_error"


def upgrade() -> None:
    attempts = sa.table(
        "webhook_attempts",
        sa.column("id", sa.Integer),
        sa.column("status_code", sa.Integer),
        sa.column("error", sa.Text),
    )
    connection = op.get_bind()
    last = 0
    while True:
        rows = connection.execute(
            sa.select(attempts.c.id, attempts.c.status_code, attempts.c.error)
            .where(attempts.c.id > last, attempts.c.error.is_not(None))
            .order_by(attempts.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        for id_, status_code, error in rows:
            if not _ERROR_CLASS.fullmatch(error):
                connection.execute(
                    attempts.update()
                    .where(attempts.c.id == id_)
                    .values(error=error_class(status_code, error))
                )
        last = rows[-1].id


def downgrade() -> None:
    pass
