"""Delivering the outbox: each event to each subscribed endpoint, in order, with retries.

Each event reaches each subscribed endpoint as JSON signed with the endpoint's secret:

    X-Dupgate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">

Deliveries of one stream (one collection, or the tenant's own events) are sent one at a time
in the order their events were created: a delivery waits until the one before it was delivered
or given up on. A failure is retried with exponential backoff and jitter until the retry window
(24 h by default, counted from the event, so time spent waiting behind an earlier delivery
counts) has passed, then the delivery is marked dead and the stream goes on. Every attempt is
kept. A lease on the delivery being sent keeps two workers from sending a stream at
once; a worker that dies mid-send leaves a lease that expires.
"""

import json
import random
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from dupgate.events.audit import event_payload
from dupgate.store.models import Event, Webhook, WebhookAttempt, WebhookDelivery, utcnow
from dupgate.vocabulary import DeliveryStatus
from dupgate.webhooks.http import SIGNATURE_HEADER, Attempt, sign

# Longer than the request timeout, so a live sender never loses its lease mid-request.
LEASE = timedelta(seconds=120)

Transaction = Callable[[], AbstractContextManager[Session]]


@dataclass(frozen=True)
class RetryPolicy:
    """When a failed delivery is tried again, and when it is given up."""

    base_seconds: float = 10.0
    max_interval_seconds: float = 3600.0
    window_seconds: float = 24 * 3600.0

    def delay(self, attempts: int, rng: Callable[[], float] = random.random) -> timedelta:
        """The wait after the `attempts`-th failure: doubling, capped, jittered by ±50%."""
        exponential = self.base_seconds * 2 ** min(attempts - 1, 40)
        capped = min(self.max_interval_seconds, exponential)
        return timedelta(seconds=capped * (0.5 + rng()))


Sender = Callable[[str, dict[str, str], bytes], Attempt]


def due_streams(session: Session, now: datetime | None = None) -> list[tuple[str, str]]:
    """(webhook id, stream) of every stream whose first pending delivery may be sent now."""
    now = now or utcnow()
    heads = (
        select(
            WebhookDelivery.webhook_id,
            WebhookDelivery.stream,
            func.min(WebhookDelivery.event_seq).label("seq"),
        )
        .where(WebhookDelivery.status == DeliveryStatus.PENDING)
        .group_by(WebhookDelivery.webhook_id, WebhookDelivery.stream)
        .subquery()
    )
    rows = session.execute(
        select(WebhookDelivery.webhook_id, WebhookDelivery.stream)
        .join(
            heads,
            and_(
                WebhookDelivery.webhook_id == heads.c.webhook_id,
                WebhookDelivery.stream == heads.c.stream,
                WebhookDelivery.event_seq == heads.c.seq,
            ),
        )
        .where(
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.next_attempt_at <= now,
            or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until <= now),
        )
        .distinct()
    ).all()
    return [(webhook_id, stream) for webhook_id, stream in rows]


@dataclass(frozen=True)
class _Claimed:
    delivery_id: str
    url: str
    secret: str
    event_id: str
    event_type: str
    body: bytes


def deliver_stream(
    transaction: Transaction,
    send: Sender,
    webhook_id: str,
    stream: str,
    retry: RetryPolicy,
    *,
    clock: Callable[[], datetime] = utcnow,
    rng: Callable[[], float] = random.random,
) -> int:
    """Send the stream's deliveries in order until one fails or none is due; returns how many
    were delivered. Safe to run on several workers at once: only the lease holder sends."""
    delivered = 0
    while True:
        with transaction() as session:
            claimed = _claim_head(session, webhook_id, stream, clock())
        if claimed is None:
            return delivered
        sent_at = clock()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "dupgate-webhooks/0.1",
            SIGNATURE_HEADER: sign(claimed.secret, int(sent_at.timestamp()), claimed.body),
            "X-Dupgate-Event-Id": claimed.event_id,
            "X-Dupgate-Event-Type": claimed.event_type,
            "X-Dupgate-Delivery-Id": claimed.delivery_id,
        }
        attempt = send(claimed.url, headers, claimed.body)
        with transaction() as session:
            go_on = _record_attempt(session, claimed.delivery_id, attempt, sent_at, retry, rng)
        if attempt.ok:
            delivered += 1
        if not go_on:
            return delivered


def _claim_head(session: Session, webhook_id: str, stream: str, now: datetime) -> _Claimed | None:
    head = session.scalars(
        select(WebhookDelivery)
        .where(
            WebhookDelivery.webhook_id == webhook_id,
            WebhookDelivery.stream == stream,
            WebhookDelivery.status == DeliveryStatus.PENDING,
        )
        .order_by(WebhookDelivery.event_seq, WebhookDelivery.created_at)
        .limit(1)
    ).first()
    if head is None or head.next_attempt_at > now:
        return None
    leased = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == head.id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
            or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until <= now),
        )
        .values(lease_until=now + LEASE)
        .execution_options(synchronize_session=False)
    )
    if leased.rowcount != 1:  # type: ignore[attr-defined]
        return None  # another worker is sending this stream
    hook = session.get(Webhook, webhook_id)
    event = session.get(Event, head.event_seq)
    assert hook is not None and event is not None
    body = json.dumps(event_payload(event), separators=(",", ":")).encode()
    return _Claimed(head.id, hook.url, hook.secret, event.id, event.type, body)


def _record_attempt(
    session: Session,
    delivery_id: str,
    attempt: Attempt,
    sent_at: datetime,
    retry: RetryPolicy,
    rng: Callable[[], float],
) -> bool:
    """Keep the attempt and move the delivery on; whether the stream may go on to the next."""
    delivery = session.get(WebhookDelivery, delivery_id, with_for_update=True)
    assert delivery is not None
    session.add(
        WebhookAttempt(
            delivery_id=delivery_id,
            attempted_at=sent_at,
            status_code=attempt.status_code,
            latency_ms=round(attempt.latency_ms, 1),
            error=attempt.error,
        )
    )
    delivery.attempts += 1
    delivery.lease_until = None
    if delivery.status != DeliveryStatus.PENDING:
        return False  # cancelled meanwhile (the webhook was deleted)
    if attempt.ok:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.finished_at = sent_at
        return True
    age = (sent_at - delivery.created_at).total_seconds()
    if age >= retry.window_seconds:
        delivery.status = DeliveryStatus.DEAD
        delivery.finished_at = sent_at
        return True
    delivery.next_attempt_at = sent_at + retry.delay(delivery.attempts, rng)
    return False
