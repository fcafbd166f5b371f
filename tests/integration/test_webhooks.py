"""Signed webhooks through the outbox, to a real HTTP receiver, from a running `dupgate serve`."""

import json
import time
import uuid
from collections.abc import Callable

from tests.conftest import photo
from tests.images import resized_jpeg, with_caption
from tests.receiver import SECRET, receiver, signature_verifies
from tests.servers import Server
from tests.waiting import wait_until


def wait_for(condition: Callable[[], object], timeout: float = 90) -> None:
    wait_until(condition, timeout, interval=0.2)


def test_a_receiver_that_fails_three_times_gets_every_event_exactly_once_in_order(
    server: Server,
) -> None:
    admin, other = server.as_tenant(), server.as_tenant()
    with receiver(failures=3) as hook, receiver(failures=0) as other_hook:
        r = admin.client.post(
            "/v1/webhooks", json={"url": hook.url, "secret": SECRET, "events": ["*"]}
        )
        assert r.status_code == 201, r.text
        webhook_id = r.json()["id"]
        other.client.post(
            "/v1/webhooks", json={"url": other_hook.url, "secret": SECRET, "events": ["*"]}
        )
        c = f"c-{uuid.uuid4().hex[:8]}"
        admin.put_collection(c, {"policy": {"near": "hold"}})
        admin.decision(c, photo("n01580077_jay").read_bytes())
        admin.decision(c, resized_jpeg(photo("n01580077_jay"), scale=0.5))
        held = admin.upload(c, with_caption(photo("n01580077_jay")))
        admin.decided(held)
        admin.client.post(f"/v1/uploads/{held}/review", json={"action": "reject"})

        events = admin.client.get("/v1/events").json()["items"]
        # Everything from the webhook's own creation on (the tenant's key came before it).
        first = next(i for i, e in enumerate(events) if e["type"] == "webhook.created")
        expected = events[first:]
        assert len(expected) >= 6
        wait_for(lambda: len(hook.accepted()) >= len(expected))
        # "Exactly once" is a claim about what does not come: anything sent twice (a retry,
        # a second worker on the stream) would arrive within this quiet spell, 4 sweeps long.
        time.sleep(2)

        accepted = hook.accepted()
        received = [json.loads(c["body"]) for c in accepted]
        # Every event exactly once, each signed with the secret.
        assert sorted(e["id"] for e in received) == sorted(e["id"] for e in expected)
        assert all(
            signature_verifies(c["headers"]["X-Dupgate-Signature"], c["body"]) for c in accepted
        )
        assert [c["status"] for c in hook.calls[:3]] == [500, 500, 500]
        assert len(hook.calls) == len(expected) + 3
        # In order of creation within the collection.
        ours = [e["seq"] for e in received if e["collection"] == c]
        assert ours == sorted(ours)
        assert {e["type"] for e in received} >= {
            "webhook.created",
            "collection.created",
            "upload.decided",
            "upload.reviewed",
        }
        # The other tenant's receiver heard only of its own webhook.
        assert [json.loads(c["body"])["type"] for c in other_hook.accepted()] == ["webhook.created"]

    deliveries = admin.client.get(f"/v1/webhooks/{webhook_id}/deliveries").json()["items"]
    assert {d["status"] for d in deliveries} == {"delivered"}
    attempts = [a for d in deliveries for a in d["attempts"]]
    failed = [a for a in attempts if a["status_code"] == 500]
    assert len(failed) == 3 and all(a["latency_ms"] >= 0 and a["error"] is not None for a in failed)


def test_an_admin_can_redeliver_and_webhooks_are_validated(server: Server) -> None:
    admin = server.as_tenant()
    with receiver(failures=0) as hook:
        webhook_id = admin.client.post(
            "/v1/webhooks", json={"url": hook.url, "secret": SECRET, "events": ["collection.*"]}
        ).json()["id"]
        admin.put_collection(f"c-{uuid.uuid4().hex[:8]}")
        wait_for(lambda: len(hook.accepted()) == 1)
        delivery = admin.client.get(f"/v1/webhooks/{webhook_id}/deliveries").json()["items"][0]

        r = admin.client.post(f"/v1/webhooks/{webhook_id}/deliveries/{delivery['id']}/redeliver")
        assert r.status_code == 202
        wait_for(lambda: len(hook.accepted()) == 2)
        bodies = [json.loads(c["body"]) for c in hook.accepted()]
        assert bodies[0]["id"] == bodies[1]["id"] and bodies[0]["type"] == "collection.created"

    listed = admin.client.get("/v1/webhooks").json()["items"]
    assert [w["id"] for w in listed] == [webhook_id] and SECRET not in str(listed)
    for body, message in (
        ({"url": "ftp://example.org/", "secret": SECRET}, "http"),
        ({"url": hook.url, "secret": "short"}, "at least 16"),
        # Only the receiver's own address is allowed to the test server; not the rest of it.
        ({"url": "http://169.254.169.254/latest/meta-data/", "secret": SECRET}, "public"),
        ({"url": "http://[::1]:8000/", "secret": SECRET}, "public"),
        ({"url": "http://10.0.0.1/", "secret": SECRET}, "public"),
    ):
        r = admin.client.post("/v1/webhooks", json=body)
        assert r.status_code == 422 and message in r.json()["detail"], r.text
        assert r.json()["code"] == "invalid_webhook"
    assert admin.client.delete(f"/v1/webhooks/{webhook_id}").status_code == 204
    assert admin.client.get("/v1/webhooks").json()["items"] == []
