"""The typed boundary: the API's models write what the webhooks send, times as they always were,
fields that do not apply left out; the vocabulary maps every action to its outcome; cursors
round-trip and refuse what no list gave."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.exceptions import RequestValidationError

from dupgate.curation.blocklist import block_payload
from dupgate.events.audit import EVENTS, event_payload
from dupgate.gateway.pagination import decode_cursor, encode_cursor
from dupgate.gateway.schemas.events import Event as EventView
from dupgate.gateway.schemas.images import Block
from dupgate.gateway.schemas.uploads import Decision
from dupgate.gateway.schemas.uploads import Upload as UploadView
from dupgate.store.models import Block as BlockRow
from dupgate.store.models import Event, Upload
from dupgate.tenancy.keys import KEYS
from dupgate.uploads.payloads import upload_event_data
from dupgate.vocabulary import Action, Outcome, UploadStatus, outcome_of
from dupgate.webhooks.endpoints import DELIVERIES

MOMENT = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def as_json(value: object) -> Any:
    return json.loads(json.dumps(value))


def decided_upload(**fields: object) -> Upload:
    return Upload(
        id="u-1",
        collection="shop",
        status=UploadStatus.DECIDED,
        external_id="sku-1",
        created_at=MOMENT,
        action=Outcome.LINKED,
        tier="near",
        image_id="i-2",
        matches=[
            {
                "image_id": "i-1",
                "collection": "shop",
                "external_id": None,
                "score": 0.7,
                "tier": "near",
            }
        ],
        reason="near duplicate of image i-1 (score 0.700)",
        policy_version=3,
        **fields,
    )


def test_every_action_has_one_outcome() -> None:
    assert {outcome_of(a) for a in Action} == set(Outcome)
    assert outcome_of(Action.ACCEPT) == "accepted" and outcome_of(Action.HOLD) == "held"


def test_the_api_writes_events_blocks_and_decisions_as_the_webhooks_receive_them() -> None:
    event = Event(
        id="evt_1",
        seq=7,
        type="upload.decided",
        created_at=MOMENT,
        tenant="acme",
        collection="shop",
        actor="system",
        data=as_json(upload_event_data(decided_upload())),
    )
    assert EventView.of(event).model_dump(mode="json") == as_json(event_payload(event))
    block = BlockRow(
        id="b-1",
        collection="shop",
        media="image",
        sha256="ab" * 32,
        image_id=None,
        filename="x.jpg",
        reason="spam",
        actor="k-1",
        created_at=MOMENT,
    )
    assert Block.of(block).model_dump(mode="json") == as_json(block_payload(block))
    video_block = BlockRow(
        id="b-2",
        collection="shop",
        media="video",
        sha256="cd" * 32,
        image_id=None,
        video_id="v-1",
        filename="clip.mp4",
        reason="spam",
        actor="k-1",
        created_at=MOMENT,
    )
    shown = Block.of(video_block).model_dump(mode="json")
    assert shown == as_json(block_payload(video_block)) and shown["video_id"] == "v-1"
    upload = decided_upload(reviewed_by="k-1", reviewed_at=MOMENT)
    decision = Decision.of(upload).model_dump(mode="json")
    assert decision == as_json(upload_event_data(upload))["decision"]
    assert decision["reviewed_at"] == "2026-01-02T03:04:05.678901+00:00"


def test_fields_that_do_not_apply_are_left_out_not_null() -> None:
    decided = UploadView.of(decided_upload()).model_dump(mode="json")
    assert "reason" not in decided and "reviewed_at" not in decided["decision"]
    assert decided["created_at"] == "2026-01-02T03:04:05.678901+00:00"
    queued = Upload(
        id="u-2",
        collection="shop",
        status=UploadStatus.QUEUED,
        external_id=None,
        created_at=MOMENT,
    )
    assert UploadView.of(queued).model_dump(mode="json") == {
        "upload_id": "u-2",
        "collection": "shop",
        "status": "queued",
        "external_id": None,
        "created_at": "2026-01-02T03:04:05.678901+00:00",
    }


def test_cursors_round_trip_and_refuse_what_no_list_gave() -> None:
    for order, key in (
        (EVENTS, (42,)),
        (KEYS, (MOMENT, "k-1")),
        (DELIVERIES, (42, MOMENT, "d-1")),
    ):
        assert decode_cursor(encode_cursor(key), order) == key
    for cursor, order in (
        ("not base64 json", EVENTS),
        (encode_cursor((42,)), KEYS),  # another list's
        (encode_cursor(("42",)), EVENTS),
        (encode_cursor((2**64,)), EVENTS),
        (encode_cursor((MOMENT, "nul\x00")), KEYS),
    ):
        with pytest.raises(RequestValidationError):
            decode_cursor(cursor, order)
