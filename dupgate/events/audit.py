"""The audit trail, which is also the webhook outbox.

Every decision, review, policy change, deletion and block is an Event written in the same
transaction as what it reports, with a delivery row for each of the tenant's webhooks that
subscribed to it. Nothing is sent from here: once the transaction has committed, the
callbacks registered with `on_webhooks_due` (a Celery task in the workers and the gateway)
tell a worker to deliver; the beat sweep finds anything a lost message left behind.
"""

import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

from sqlalchemy import select
from sqlalchemy.orm import Session

from dupgate.store.locking import lock_collections
from dupgate.store.models import Event, Webhook, WebhookDelivery, as_utc, utcnow
from dupgate.store.paging import Key, Order, Slice, read_page
from dupgate.store.unit_of_work import after_commit, transaction_state
from dupgate.vocabulary import DeliveryStatus

if TYPE_CHECKING:  # keys record their own events: importing Caller at run time would cycle
    from dupgate.tenancy.keys import Caller


log = logging.getLogger(__name__)


SYSTEM = "system"


_callbacks: list[Callable[[], object]] = []


_decided_callbacks: list[Callable[[list[str]], None]] = []


# Events that end (or change) an upload's decision, which long-polls wait for.
DECISION_EVENTS = ("upload.decided", "upload.failed", "upload.reviewed")


# Events are listed in the order they were committed in.
EVENTS = Order(Event.seq)


# The order people read the trail in: newest first.
RECENT_EVENTS = Order(Event.seq, descending=True)


def record_event(
    session: Session,
    type: str,
    *,
    tenant: str,
    actor: str,
    data: Mapping[str, Any],
    collection: str | None = None,
) -> Event:
    """Write an event, and a pending delivery for every webhook of the tenant that wants it.

    An event of a collection takes the collection's lock first, so that the events of one
    collection are numbered in the order their transactions commit.
    """
    if collection is not None:
        lock_collections(session, [collection])
    row = Event(
        id=f"evt_{uuid.uuid4().hex}",
        tenant=tenant,
        collection=collection,
        type=type,
        actor=actor,
        data=dict(data),
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()  # assigns seq
    if type in DECISION_EVENTS:
        _decided_in(session).append(data["upload_id"])
    hooks = session.scalars(
        select(Webhook).where(Webhook.tenant == tenant, Webhook.deleted_at.is_(None))
    )
    for hook in hooks:
        if subscribed(hook.events, type):
            session.add(
                WebhookDelivery(
                    id=str(uuid.uuid4()),
                    webhook_id=hook.id,
                    event_seq=row.seq,
                    stream=collection or "",
                    status=DeliveryStatus.PENDING,
                    attempts=0,
                    next_attempt_at=row.created_at,
                )
            )
            mark_webhooks_due(session)
    return row


def mark_webhooks_due(session: Session) -> None:
    """Have the `on_webhooks_due` callbacks run once this session's transaction commits."""
    after_commit(session, _webhooks_due, once=_webhooks_due)


def _webhooks_due() -> None:
    for callback in _callbacks:
        try:
            callback()
        except Exception:
            # The deliveries are committed: the periodic sweep sends them.
            log.exception("could not signal new webhook deliveries; the sweep will send them")


def _decided_in(session: Session) -> list[str]:
    """The uploads this transaction decided, announced once it has committed."""
    state = transaction_state(session)
    if "uploads_decided" not in state:
        decided: list[str] = []
        state["uploads_decided"] = decided
        after_commit(session, lambda: _announce_decided(decided))
    ids: list[str] = state["uploads_decided"]
    return ids


def _announce_decided(upload_ids: list[str]) -> None:
    for callback in _decided_callbacks:
        try:
            callback(upload_ids)
        except Exception:
            # The decision is committed: long-polls find it when they read again.
            log.warning("could not announce decided uploads", exc_info=True)


def subscribed(patterns: list[str], type: str) -> bool:
    """Whether an event type matches a webhook's list: "*", "upload.*" or "upload.decided"."""
    for pattern in patterns:
        if pattern == "*" or pattern == type:
            return True
        if pattern.endswith(".*") and type.startswith(pattern[:-1]):
            return True
    return False


class EventPayload(TypedDict):
    """An event as webhooks receive it (the API lists the same fields)."""

    id: str
    seq: int
    type: str
    created_at: str
    tenant: str
    collection: str | None
    actor: str
    data: dict[str, Any]


def event_payload(row: Event) -> EventPayload:
    """The JSON body a webhook receives for an event."""
    return {
        "id": row.id,
        "seq": row.seq,
        "type": row.type,
        "created_at": iso(row.created_at),
        "tenant": row.tenant,
        "collection": row.collection,
        "actor": row.actor,
        "data": row.data,
    }


def iso(moment: datetime) -> str:
    """A time as ISO 8601 with its UTC offset."""
    return as_utc(moment).isoformat()


def list_events(
    session: Session,
    caller: "Caller",
    *,
    collection: str | None = None,
    after: Key | None = None,
    limit: int = 100,
    tenant: str | None = None,
) -> Slice[Event]:
    """A page of the caller's events after the key `after` (a sequence number), oldest first."""
    query = select(Event)
    if not caller.all_tenants:
        query = query.where(Event.tenant == caller.tenant)
    elif tenant is not None:
        query = query.where(Event.tenant == tenant)
    if collection is not None:
        query = query.where(Event.collection == collection)
    return read_page(session, query, EVENTS, after, limit)


def recent_events(
    session: Session,
    caller: "Caller",
    *,
    collection: str | None = None,
    type_prefix: str | None = None,
    actor: str | None = None,
    before: Key | None = None,
    limit: int = 50,
) -> Slice[Event]:
    """A page of the caller's events, newest first, before the key `before` (a sequence
    number): only a collection's, those whose type starts with `type_prefix`, or one actor's."""
    query = select(Event)
    if not caller.all_tenants:
        query = query.where(Event.tenant == caller.tenant)
    if collection:
        query = query.where(Event.collection == collection)
    if type_prefix:
        query = query.where(Event.type.startswith(type_prefix, autoescape=True))
    if actor:
        query = query.where(Event.actor == actor)
    return read_page(session, query, RECENT_EVENTS, before, limit)


def on_webhooks_due(callback: Callable[[], object]) -> None:
    """Call `callback` after each commit that created webhook deliveries (e.g. to enqueue them)."""
    if callback not in _callbacks:
        _callbacks.append(callback)


def on_uploads_decided(callback: Callable[[list[str]], None]) -> None:
    """Call `callback` with the upload ids after each commit that decided (or reviewed) uploads."""
    if callback not in _decided_callbacks:
        _decided_callbacks.append(callback)
