"""Webhook delivery from the outbox: signatures, order, retries, the retry window and leases.

Real databases (SQLite, and PostgreSQL where configured) and a real local HTTP receiver; the
clock is passed in, so a day of retries takes no time.
"""

import json
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

import pytest

from dupgate.events.audit import record_event, subscribed
from dupgate.gateway.schemas.webhooks import Delivery
from dupgate.store.db import session_scope
from dupgate.store.models import Webhook, WebhookDelivery, utcnow
from dupgate.tenancy.collections import PolicyChange, put_collection
from dupgate.tenancy.keys import BOOTSTRAP
from dupgate.webhooks.delivery import RetryPolicy, deliver_stream, due_streams
from dupgate.webhooks.endpoints import create_webhook, delete_webhook, deliveries
from dupgate.webhooks.http import post, sign, verify
from tests.receiver import LOCAL, SECRET, receiver, signature_verifies

RETRY = RetryPolicy(base_seconds=10, max_interval_seconds=3600, window_seconds=24 * 3600)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def setup(database_url: str, url: str, events: int = 3) -> str:
    """A webhook for tenant "default" and `events` policy changes of collection "shop"."""
    with session_scope(database_url) as s:
        webhook_id = create_webhook(
            s, "default", url, SECRET, ["policy.*"], BOOTSTRAP, allowed=LOCAL
        ).id
    with session_scope(database_url) as s:
        put_collection(s, "shop", PolicyChange(), BOOTSTRAP)
    for i in range(events):
        with session_scope(database_url) as s:
            put_collection(s, "shop", PolicyChange(near=0.5 + i / 100), BOOTSTRAP)
    return webhook_id


def deliver(database_url: str, webhook_id: str, clock: Callable[[], datetime]) -> int:
    return deliver_stream(
        partial(session_scope, database_url),
        partial(post, allowed=LOCAL),
        webhook_id,
        "shop",
        RETRY,
        clock=clock,
    )


def statuses(database_url: str) -> list[str]:
    with session_scope(database_url) as s:
        rows = s.query(WebhookDelivery).order_by(WebhookDelivery.event_seq).all()
        return [d.status for d in rows]


def test_a_signature_verifies_only_for_its_body_secret_and_time() -> None:
    body = b'{"id":"evt_1"}'
    header = sign(SECRET, 1_800_000_000, body)
    assert header.startswith("t=1800000000,v1=")
    assert verify(SECRET, header, body, now=1_800_000_100)
    assert not verify(SECRET, header, body + b" ", now=1_800_000_100)
    assert not verify("another-secret-0000", header, body, now=1_800_000_100)
    assert not verify(SECRET, header, body, now=1_800_001_000)  # a replay, 1000 s later
    assert not verify(SECRET, "v1=abc", body)


@pytest.mark.parametrize(
    ("patterns", "type", "expected"),
    [
        (["*"], "upload.decided", True),
        (["upload.*"], "upload.decided", True),
        (["upload.*"], "uploads.x", False),
        (["image.deleted"], "image.deleted", True),
        (["image.deleted"], "image.blocked", False),
    ],
)
def test_a_webhook_gets_the_event_types_it_asked_for(
    patterns: list[str], type: str, expected: bool
) -> None:
    assert subscribed(patterns, type) is expected


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    assert RETRY.delay(1, rng=lambda: 0.5) == timedelta(seconds=10)
    assert RETRY.delay(4, rng=lambda: 0.5) == timedelta(seconds=80)
    assert RETRY.delay(30, rng=lambda: 0.5) == timedelta(seconds=3600)
    assert RETRY.delay(2, rng=lambda: 0.0) == timedelta(seconds=10)
    assert RETRY.delay(2, rng=lambda: 0.999) < timedelta(seconds=30)


def test_a_failed_delivery_holds_back_its_stream_and_all_arrive_in_order(
    database_url: str,
) -> None:
    with receiver(failures=1) as hook:
        webhook_id = setup(database_url, hook.url)
        clock = Clock()

        assert deliver(database_url, webhook_id, clock) == 0
        assert statuses(database_url) == ["pending"] * 3
        # Not due yet: nothing is sent, and the stream does not skip ahead.
        clock.advance(4)
        assert deliver(database_url, webhook_id, clock) == 0
        assert len(hook.calls) == 1
        clock.advance(20)
        assert deliver(database_url, webhook_id, clock) == 3

    bodies = [json.loads(c["body"]) for c in hook.accepted()]
    assert [b["data"]["thresholds"]["near"] for b in bodies] == [0.5, 0.51, 0.52]
    assert [b["data"]["policy_version"] for b in bodies] == [2, 3, 4]
    assert all(
        signature_verifies(c["headers"]["X-Dupgate-Signature"], c["body"]) for c in hook.accepted()
    )
    assert statuses(database_url) == ["delivered"] * 3


def test_a_delivery_is_dead_after_the_retry_window_and_the_stream_goes_on(
    database_url: str,
) -> None:
    with receiver(failures=10**6) as hook:
        webhook_id = setup(database_url, hook.url, events=2)
        clock = Clock()
        started = clock.now
        while statuses(database_url)[0] == "pending":
            deliver(database_url, webhook_id, clock)
            clock.advance(5400)  # longer than the longest backoff: every round sends

    assert clock.now - started >= timedelta(hours=24)
    sent = [json.loads(c["body"])["data"]["policy_version"] for c in hook.calls]
    # Tried all day long, then given up, and the next delivery was tried at once. It waited a
    # day behind the first (the window counts from the event), so one failure ends it too.
    assert sent[-1] == 3 and set(sent[:-1]) == {2}
    assert len(sent) - 1 >= 16
    assert statuses(database_url) == ["dead", "dead"]


def test_two_workers_on_one_stream_send_each_event_once(database_url: str) -> None:
    with receiver(delay=0.2) as hook:
        webhook_id = setup(database_url, hook.url, events=4)
        workers = [
            threading.Thread(target=deliver, args=(database_url, webhook_id, utcnow))
            for _ in range(3)
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=60)

    ids = [json.loads(c["body"])["id"] for c in hook.calls]
    assert len(ids) == 4 and len(set(ids)) == 4
    assert statuses(database_url) == ["delivered"] * 4


def test_due_streams_name_only_streams_whose_first_delivery_is_due(database_url: str) -> None:
    with receiver(failures=1) as hook:
        webhook_id = setup(database_url, hook.url)
        clock = Clock()
        with session_scope(database_url) as s:
            assert due_streams(s, clock()) == [(webhook_id, "shop")]
        deliver(database_url, webhook_id, clock)
        with session_scope(database_url) as s:
            assert due_streams(s, clock()) == []
            assert due_streams(s, clock() + timedelta(seconds=20)) == [(webhook_id, "shop")]


def test_deleting_a_webhook_cancels_what_it_had_pending(database_url: str) -> None:
    with receiver() as hook:
        webhook_id = setup(database_url, hook.url)
        with session_scope(database_url) as s:
            hook_row = s.get(Webhook, webhook_id)
            assert hook_row is not None
            delete_webhook(s, hook_row, BOOTSTRAP)
        assert deliver(database_url, webhook_id, utcnow) == 0
        assert hook.calls == []
    assert statuses(database_url) == ["cancelled"] * 3


def test_only_the_webhooks_tenant_and_event_types_make_deliveries(database_url: str) -> None:
    with receiver() as hook:
        setup(database_url, hook.url, events=0)  # "collection.created" is not subscribed
        with session_scope(database_url) as s:
            record_event(s, "policy.changed", tenant="someone-else", actor="system", data={})
            record_event(s, "image.deleted", tenant="default", actor="system", data={})
            record_event(s, "policy.changed", tenant="default", actor="system", data={})
    assert statuses(database_url) == ["pending"]


def test_a_failed_delivery_keeps_only_a_short_error_class_never_the_answer(
    database_url: str,
) -> None:
    page = b"<html>internal admin: password=hunter2</html>"
    with receiver(failures=1, failure_body=page) as hook:
        webhook_id = setup(database_url, hook.url, events=1)
        deliver(database_url, webhook_id, Clock())
    with receiver() as closed:
        closed_url = closed.url  # nothing listens there once the block ends
    refused = post(closed_url, {}, b"{}", allowed=LOCAL)

    with session_scope(database_url) as s:
        hook_row = s.get(Webhook, webhook_id)
        assert hook_row is not None
        shown = [Delivery.of(d).model_dump(mode="json") for d in deliveries(s, hook_row).rows]
    attempts = [a for d in shown for a in d["attempts"]]
    assert [(a["status_code"], a["error"]) for a in attempts] == [(500, "http_500")]
    assert "hunter2" not in json.dumps(shown)
    assert (refused.status_code, refused.error) == (None, "connection_refused")
