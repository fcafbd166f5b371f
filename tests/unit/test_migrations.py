"""Databases made by earlier versions upgrade without losing what they had (and lose what
they must not keep)."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from dupgate.store.db import alembic_config, get_engine, migrate, session_scope
from dupgate.store.models import (
    Block,
    Event,
    IndexChange,
    PolicyVersion,
    ScanGroup,
    VideoFeaturesRow,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)
from dupgate.tenancy.keys import authenticate, hash_key
from dupgate.vocabulary import Scope
from tests.databases import database_backends, drop_postgres_database, fresh_postgres_database


@pytest.fixture(params=database_backends())
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    url, name = fresh_postgres_database()
    yield url
    get_engine(url).dispose()
    drop_postgres_database(name)


def test_collections_and_keys_of_0001_keep_working_after_0002(empty_database: str) -> None:
    url = empty_database
    command.upgrade(alembic_config(url), "0001")
    with get_engine(url).begin() as c:
        c.execute(
            text(
                "INSERT INTO collections (name, exact_threshold, near_threshold, action_exact, "
                "action_near, action_unique, decisions, created_at, updated_at) VALUES "
                "('shop', 0.96, 0.5, 'reject', 'hold', 'accept', 7, :t, :t)"
            ),
            {"t": "2026-11-01 10:00:00"},
        )
        c.execute(
            text("INSERT INTO api_keys (id, key_hash, name, created_at) VALUES (:i, :h, 'ci', :t)"),
            {"i": str(uuid.uuid4()), "h": hash_key("dg_old"), "t": "2026-11-01 10:00:00"},
        )
        c.execute(
            text(
                "INSERT INTO index_changes (collection, image_id, op, created_at) "
                "VALUES ('shop', 'img-1', 'remove', :t)"
            ),
            {"t": "2026-11-01 10:00:00"},
        )
    get_engine(url).dispose()

    migrate(url)

    with session_scope(url) as s:
        caller = authenticate(s, "dg_old", None)
        assert caller is not None and caller.all_tenants and caller.can(Scope.ADMIN)
        row = s.execute(text("SELECT tenant, policy_version FROM collections")).one()
        assert tuple(row) == ("default", 1)
        (version,) = s.query(PolicyVersion).all()
        assert (version.collection, version.version, version.near_threshold) == ("shop", 1, 0.5)
        assert version.actions == {"exact": "reject", "near": "hold", "unique": "accept"}
        # What the index replays stays the collection's images, not its blocklist.
        assert s.execute(text("SELECT kind FROM index_changes")).scalar() == "images"


def test_0005_replaces_stored_webhook_answers_with_their_error_class(empty_database: str) -> None:
    # Before 0005 an attempt kept up to 500 characters of what the receiver answered: from an
    # internal address that could be a page of secrets, readable back by the tenant.
    url = empty_database
    command.upgrade(alembic_config(url), "0004")
    at = datetime(2026, 11, 1, 10, tzinfo=UTC)
    answers = [
        (500, "<html>db_password=hunter2</html>"),
        (404, "Not Found"),
        (None, "ConnectError: [Errno 111] Connection refused"),
        (None, "ReadTimeout: timed out"),
        (None, "ConnectError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
        (502, "http_502"),  # already a class
        (200, None),
    ]
    with session_scope(url) as s:
        s.add(Event(id="evt-1", tenant="default", type="image.committed", actor="t", data={}))
        s.add(
            Webhook(
                id="wh-1",
                tenant="default",
                url="https://example.com/h",
                secret="s",
                events=["*"],
                created_by="t",
            )
        )
        s.flush()
        seq = s.query(Event).one().seq
        s.add(
            WebhookDelivery(
                id="d-1",
                webhook_id="wh-1",
                event_seq=seq,
                stream="",
                status="dead",
                attempts=len(answers),
                next_attempt_at=at,
            )
        )
        s.flush()
        for status_code, error in answers:
            s.add(
                WebhookAttempt(
                    delivery_id="d-1",
                    attempted_at=at,
                    status_code=status_code,
                    latency_ms=3.0,
                    error=error,
                )
            )
    get_engine(url).dispose()

    migrate(url)

    with session_scope(url) as s:
        stored = [a.error for a in s.query(WebhookAttempt).order_by(WebhookAttempt.id)]
    assert stored == [
        "http_500",
        "http_404",
        "connection_refused",
        "timeout",
        "tls_error",
        "http_502",
        None,
    ]


def test_blocks_of_0008_stay_pictures_and_0009_takes_blocked_videos(empty_database: str) -> None:
    url = empty_database
    command.upgrade(alembic_config(url), "0008")
    t = "2026-12-01 10:00:00"
    with get_engine(url).begin() as c:
        c.execute(
            text(
                "INSERT INTO collections (name, tenant, exact_threshold, near_threshold, "
                "action_exact, action_near, action_unique, check_against, policy_version, "
                "decisions, created_at, updated_at) VALUES "
                "('shop', 'default', 0.95, 0.4, 'reject', 'link', 'accept', '[]', 1, 0, :t, :t)"
            ),
            {"t": t},
        )
        c.execute(
            text(
                "INSERT INTO image_features (sha256, version, data, created_at) "
                "VALUES ('aa', 1, :d, :t)"
            ),
            {"d": b"\x00", "t": t},
        )
        c.execute(
            text(
                "INSERT INTO blocked_images (id, collection, sha256, reason, actor, created_at) "
                "VALUES ('b-1', 'shop', 'aa', 'spam', 'k', :t)"
            ),
            {"t": t},
        )
    get_engine(url).dispose()

    migrate(url)

    with session_scope(url) as s:
        assert s.get_one(Block, "b-1").media == "image"
        # A video's bytes name an analysis in video_features, not image_features.
        s.add(VideoFeaturesRow(sha256="vv", version=1, data=b"\x00"))
        s.add(Block(id="b-2", collection="shop", media="video", sha256="vv", reason="r", actor="k"))
        # Its frames' kind is longer than the ten characters kinds had.
        s.add(IndexChange(collection="shop", kind="blocked_frames", image_id="b-2/0", op="remove"))
    with session_scope(url) as s:
        assert s.get_one(Block, "b-2").media == "video"


def test_scan_groups_of_0009_stay_images_and_0010_takes_video_groups(empty_database: str) -> None:
    url = empty_database
    command.upgrade(alembic_config(url), "0009")
    t = "2026-12-01 10:00:00"
    with get_engine(url).begin() as c:
        c.execute(
            text(
                "INSERT INTO collections (name, tenant, exact_threshold, near_threshold, "
                "action_exact, action_near, action_unique, check_against, policy_version, "
                "decisions, created_at, updated_at) VALUES "
                "('shop', 'default', 0.95, 0.4, 'accept', 'accept', 'accept', '[]', 1, 0, :t, :t)"
            ),
            {"t": t},
        )
        c.execute(
            text(
                "INSERT INTO scans (id, collection, status, threshold, filters, total, done, "
                "groups, actor, created_at, updated_at) VALUES "
                "('s-1', 'shop', 'done', 0.4, '{}', 2, 2, 1, 'k', :t, :t)"
            ),
            {"t": t},
        )
        c.execute(
            text(
                "INSERT INTO scan_groups (scan_id, number, keeper, keeper_rule, images, pairs) "
                "VALUES ('s-1', 1, 'i-1', 'largest', '[\"i-1\", \"i-2\"]', '[]')"
            )
        )
    get_engine(url).dispose()

    migrate(url)

    with session_scope(url) as s:
        (group,) = s.query(ScanGroup).all()
        assert (group.media, group.images) == ("image", ["i-1", "i-2"])
        s.add(
            ScanGroup(
                scan_id="s-1",
                number=2,
                media="video",
                keeper="v-1",
                keeper_rule="longest",
                images=["v-1", "v-2"],
                pairs=[],
            )
        )
    # Going back, the older code could only read a video group's ids as images': it goes.
    command.downgrade(alembic_config(url), "0009")
    with get_engine(url).begin() as c:
        assert c.execute(text("SELECT keeper FROM scan_groups")).scalars().all() == ["i-1"]
    get_engine(url).dispose()
