"""A tenant's webhook endpoints: registered, listed and deleted; their deliveries as the API
shows them, and redelivery. How deliveries are sent: dupgate/webhooks/delivery.py.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dupgate.events.audit import mark_webhooks_due, record_event
from dupgate.settings import Network
from dupgate.store.models import Event, Webhook, WebhookAttempt, WebhookDelivery, utcnow
from dupgate.store.paging import Key, Order, Slice, page_of, read_page
from dupgate.tenancy.keys import Caller
from dupgate.tenancy.visibility import UnknownWebhook
from dupgate.vocabulary import DeliveryStatus
from dupgate.webhooks.targets import RefusedTarget, resolve

MIN_SECRET_LENGTH = 16


class InvalidWebhook(ValueError):
    """A webhook that cannot be registered as asked; the message says why."""


# The orders lists are read in: webhooks oldest first, deliveries newest first.
WEBHOOKS = Order(Webhook.created_at, Webhook.id)
DELIVERIES = Order(
    WebhookDelivery.event_seq, WebhookDelivery.created_at, WebhookDelivery.id, descending=True
)


def create_webhook(
    session: Session,
    tenant: str,
    url: str,
    secret: str,
    events: list[str],
    caller: Caller,
    *,
    allowed: Sequence[Network] = (),
) -> Webhook:
    """Register an endpoint for the tenant's events ("*", "upload.*" or exact types).

    Its host must resolve to public addresses only, or to addresses in `allowed`.
    """
    try:
        resolve(url, allowed)
    except RefusedTarget as e:
        raise InvalidWebhook(str(e)) from e
    if len(secret) < MIN_SECRET_LENGTH:
        raise InvalidWebhook(
            f"secret must be at least {MIN_SECRET_LENGTH} characters (a long random string)"
        )
    if not events or not all(isinstance(e, str) and e for e in events):
        raise InvalidWebhook('events must list event types, e.g. ["*"] or ["upload.*"]')
    hook = Webhook(
        id=str(uuid.uuid4()),
        tenant=tenant,
        url=url,
        secret=secret,
        events=list(events),
        created_by=caller.actor,
    )
    session.add(hook)
    session.flush()
    record_event(
        session,
        "webhook.created",
        tenant=tenant,
        actor=caller.actor,
        data={"webhook_id": hook.id, "url": url, "events": list(events)},
    )
    return hook


def visible_webhooks(
    session: Session, caller: Caller, *, after: Key | None = None, limit: int = 100
) -> Slice[Webhook]:
    """A page of the caller's webhooks, oldest first."""
    query = select(Webhook).where(Webhook.deleted_at.is_(None))
    if not caller.all_tenants:
        query = query.where(Webhook.tenant == caller.tenant)
    return read_page(session, query, WEBHOOKS, after, limit)


def delete_webhook(session: Session, hook: Webhook, caller: Caller) -> None:
    """Stop delivering to the endpoint; what was still pending is cancelled."""
    now = utcnow()
    hook.deleted_at = now
    session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.webhook_id == hook.id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
        )
        .values(status=DeliveryStatus.CANCELLED, finished_at=now)
    )
    record_event(
        session,
        "webhook.deleted",
        tenant=hook.tenant,
        actor=caller.actor,
        data={"webhook_id": hook.id, "url": hook.url},
    )


@dataclass(frozen=True)
class DeliveryRecord:
    """A delivery, the event it carries and every attempt to send it, oldest first."""

    delivery: WebhookDelivery
    event: Event
    attempts: list[WebhookAttempt]


def deliveries(
    session: Session,
    hook: Webhook,
    *,
    status: DeliveryStatus | None = None,
    after: Key | None = None,
    limit: int = 100,
) -> Slice[DeliveryRecord]:
    """A page of the webhook's deliveries, newest first, each with its attempts."""
    query = (
        select(WebhookDelivery, Event)
        .join(Event, Event.seq == WebhookDelivery.event_seq)
        .where(WebhookDelivery.webhook_id == hook.id, DELIVERIES.after(after))
        .order_by(*DELIVERIES.clauses)
        .limit(limit + 1)
    )
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    pairs = session.execute(query).all()
    shown = page_of([delivery for delivery, _ in pairs], DELIVERIES, limit)
    events = {delivery.id: event for delivery, event in pairs}
    attempts: dict[str, list[WebhookAttempt]] = {}
    for attempt in session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id.in_([d.id for d in shown.rows]))
        .order_by(WebhookAttempt.id)
    ):
        attempts.setdefault(attempt.delivery_id, []).append(attempt)
    records = [DeliveryRecord(d, events[d.id], attempts.get(d.id, [])) for d in shown.rows]
    return Slice(records, shown.next)


def redeliver(session: Session, hook: Webhook, delivery_id: str) -> str:
    """Send a delivery's event again as a new delivery (in its stream's order); returns its id."""
    old = session.get(WebhookDelivery, delivery_id)
    if old is None or old.webhook_id != hook.id:
        raise UnknownWebhook(f"webhook {hook.id} has no delivery {delivery_id}")
    now = utcnow()
    new = WebhookDelivery(
        id=str(uuid.uuid4()),
        webhook_id=hook.id,
        event_seq=old.event_seq,
        stream=old.stream,
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(new)
    mark_webhooks_due(session)
    return new.id
