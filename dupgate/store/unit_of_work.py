"""The unit of work: one transaction, and what may happen only once it has committed.

The outer layer owns the transaction: a request (gateway/deps.py `SessionDep`), a task or a
CLI command opens it with `dupgate.db.session_scope` and it commits when they end. Domain
functions take the session and never commit. What must not happen unless the data is
durable (deleting blobs a commit made obsolete, enqueueing a task that reads the new rows,
waking webhook deliveries) is registered with `after_commit`: it runs once the transaction
has committed and is dropped if it rolls back.
"""

import logging
from collections.abc import Callable, Hashable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)


_STATE = "dupgate.transaction"


def transaction_state(session: Session) -> dict[str, Any]:
    """Values that live as long as the session's current transaction (cleared at its end)."""
    state: dict[str, Any] = session.info.setdefault(_STATE, {})
    return state


def after_commit(
    session: Session, action: Callable[[], object], *, once: Hashable | None = None
) -> None:
    """Run `action` once the session's transaction has committed; never if it rolls back.

    Actions run in the order they were registered; with `once`, only the first action
    registered under that key in this transaction runs. An action that fails is logged and
    does not stop the others: the data is committed, and whatever it was for is found again
    by a sweep (a lost enqueue, an orphaned blob).
    """
    actions: dict[Hashable, Callable[[], object]] = transaction_state(session).setdefault(
        "after_commit", {}
    )
    actions.setdefault(once if once is not None else object(), action)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: the transaction goes on
    state = session.info.pop(_STATE, {})
    for action in state.get("after_commit", {}).values():
        try:
            action()
        except Exception:
            log.exception("after-commit action %r failed; a sweep will catch up", action)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    if session.in_nested_transaction():
        return  # rolled back to a savepoint: what came before it still stands
    session.info.pop(_STATE, None)
