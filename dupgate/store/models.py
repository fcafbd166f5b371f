"""The database tables: the source of truth for collections, uploads, images and their features."""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from dupgate.vocabulary import Action, DeliveryStatus, Outcome, ScanStatus, Tier, UploadStatus


def utcnow() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """`moment` as an aware UTC datetime; one without a zone is taken to be UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A moment stored in UTC and read back as an aware UTC datetime on every backend.

    SQLite keeps no zone: it is given UTC and read back as UTC. PostgreSQL's timestamptz
    answers in the connection's zone, which is made UTC here too.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


E = TypeVar("E", bound=StrEnum)


class Word(TypeDecorator[E], Generic[E]):
    """A member of a StrEnum (dupgate.vocabulary), stored as its plain string value.

    The column is a VARCHAR like any other (no database enum, nothing to migrate); values are
    checked on the way in and come back as members.
    """

    impl = String
    cache_ok = True

    def __init__(self, kind: type[E], length: int = 20) -> None:
        super().__init__(length)
        self.kind = kind

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.kind(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        return None if value is None else self.kind(value)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: UTCDateTime}


class Collection(Base):
    """A set of images that uploads are checked against, with its current policy.

    Names are unique across tenants, like bucket names: a tenant never sees another's
    collection, only that a name is taken.
    """

    __tablename__ = "collections"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(100), index=True)
    exact_threshold: Mapped[float] = mapped_column(Float)
    near_threshold: Mapped[float] = mapped_column(Float)
    action_exact: Mapped[Action] = mapped_column(Word(Action))
    action_near: Mapped[Action] = mapped_column(Word(Action))
    action_unique: Mapped[Action] = mapped_column(Word(Action))
    # Other collections of the same tenant that uploads are also checked against.
    check_against: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # The PolicyVersion these columns hold; every change writes a new one.
    policy_version: Mapped[int] = mapped_column(Integer, default=1)
    # Bumped by every decision and event: the UPDATE takes the row lock that serializes them.
    decisions: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Upload(Base):
    """One upload request and, once decided, its decision."""

    __tablename__ = "uploads"
    __table_args__ = (UniqueConstraint("collection", "idempotency_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    collection: Mapped[str] = mapped_column(ForeignKey("collections.name"), index=True)
    status: Mapped[UploadStatus] = mapped_column(Word(UploadStatus), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    filename: Mapped[str | None] = mapped_column(String(500))
    external_id: Mapped[str | None] = mapped_column(String(500))
    labels: Mapped[list[Any]] = mapped_column(JSON, default=list)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    staging_key: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # While `processing`: the worker run that holds the upload and until when; the worker
    # extends it while it works, and the sweep re-enqueues an upload whose lease ran out (its
    # worker vanished). While `queued`: when to enqueue it again if no worker has taken it
    # (its message was lost, e.g. with a restarted broker).
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    # The API key that sent it (None for the bootstrap key): `upload` keys read only their own.
    key_id: Mapped[str | None] = mapped_column(String(36))

    # The decision's outcome ("accepted", not the policy's "accept") and the tier it was for.
    action: Mapped[Outcome | None] = mapped_column(Word(Outcome))
    tier: Mapped[Tier | None] = mapped_column(Word(Tier))
    image_id: Mapped[str | None] = mapped_column(String(36))
    matches: Mapped[list[Any]] = mapped_column(JSON, default=list)
    reason: Mapped[str | None] = mapped_column(Text)
    policy_version: Mapped[int | None] = mapped_column(Integer)
    # Set when a person completed a held upload.
    reviewed_by: Mapped[str | None] = mapped_column(String(100))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How long the worker took to read, decode and embed the bytes (the analysis-latency
    # metric); None when the analysis of identical bytes was reused, or before 0006.
    analysis_seconds: Mapped[float | None] = mapped_column(Float)
    # "image" or "video": which endpoint it came through, and so what it becomes.
    media: Mapped[str] = mapped_column(String(10), default="image", server_default="image")
    video_id: Mapped[str | None] = mapped_column(String(36))


class ImageFeatures(Base):
    """Every signal of one picture's bytes, computed once and reused by everything after."""

    __tablename__ = "image_features"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Committed:
    """The columns committed images and videos share. A `link` record points at another row of
    its kind (`linked_to`) and has no blob of its own."""

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    collection: Mapped[str] = mapped_column(ForeignKey("collections.name"), index=True)
    # The upload that committed this row; unique so that a retried task cannot commit twice.
    upload_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    blob_key: Mapped[str | None] = mapped_column(String(300))
    linked_to: Mapped[str | None] = mapped_column(String(36), index=True)
    external_id: Mapped[str | None] = mapped_column(String(500), index=True)
    labels: Mapped[list[Any]] = mapped_column(JSON, default=list)
    filename: Mapped[str | None] = mapped_column(String(500))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(20))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Image(Committed, Base):
    """A committed image, or a link record."""

    __tablename__ = "images"

    sha256: Mapped[str] = mapped_column(ForeignKey("image_features.sha256"), index=True)


class VideoFeaturesRow(Base):
    """A video's analysis, keyed by the SHA-256 of its bytes: its kept frames' times, weights
    and the keys of their image features (stored in image_features, one row a frame)."""

    __tablename__ = "video_features"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Video(Committed, Base):
    """A committed video, or a link record."""

    __tablename__ = "videos"

    sha256: Mapped[str] = mapped_column(ForeignKey("video_features.sha256"), index=True)
    duration: Mapped[float] = mapped_column(Float)


class IndexChange(Base):
    """An append-only log of what entered or left a collection's index, in commit order.

    Workers replay it from their last-seen `seq` to bring their in-memory index up to date.
    """

    __tablename__ = "index_changes"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    collection: Mapped[str] = mapped_column(String(200), index=True)
    # "images": the collection's committed images; "blocked": its blocked pictures (image_id =
    # block id); "frames" and "blocked_frames": the kept frames of its videos and of its blocked
    # videos.
    kind: Mapped[str] = mapped_column(String(20), default="images")
    # An image's id, or "<video id>/<frame number>" for a video's frame (kind "frames"), or
    # "<block id>/<frame number>" for a blocked video's.
    image_id: Mapped[str] = mapped_column(String(80))
    op: Mapped[str] = mapped_column(String(10))  # add|remove
    sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(Base):
    """An API key of one tenant ("*": every tenant), stored only as its SHA-256."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    tenant: Mapped[str] = mapped_column(String(100), index=True)
    scopes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PolicyVersion(Base):
    """One version of a collection's policy, kept forever: decisions name the one they used."""

    __tablename__ = "policy_versions"
    __table_args__ = (UniqueConstraint("collection", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    collection: Mapped[str] = mapped_column(ForeignKey("collections.name"))
    version: Mapped[int] = mapped_column(Integer)
    exact_threshold: Mapped[float] = mapped_column(Float)
    near_threshold: Mapped[float] = mapped_column(Float)
    actions: Mapped[dict[str, Any]] = mapped_column(JSON)
    check_against: Mapped[list[Any]] = mapped_column(JSON, default=list)
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Event(Base):
    """The audit trail and the webhook outbox: written in the transaction of what it reports.

    Events of one collection are written under its row lock, so `seq` is their commit order.
    """

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_tenant_seq", "tenant", "seq"),)

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[str] = mapped_column(String(40), unique=True)
    tenant: Mapped[str] = mapped_column(String(100))
    collection: Mapped[str | None] = mapped_column(String(200), index=True)
    type: Mapped[str] = mapped_column(String(50))
    actor: Mapped[str] = mapped_column(String(100))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Webhook(Base):
    """A tenant's endpoint that receives its events, signed with its secret."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(100), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    # Kept as given: signing needs it. Rotate by registering a new webhook.
    secret: Mapped[str] = mapped_column(String(500))
    events: Mapped[list[Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookDelivery(Base):
    """One event on its way to one webhook; delivered in order within its stream.

    The stream is the event's collection ("" for tenant-wide events): a delivery is sent only
    when every earlier delivery of its stream has been delivered or given up on.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_stream", "webhook_id", "stream", "status", "event_seq"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id"))
    event_seq: Mapped[int] = mapped_column(ForeignKey("events.seq"))
    stream: Mapped[str] = mapped_column(String(200))
    status: Mapped[DeliveryStatus] = mapped_column(Word(DeliveryStatus))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Held by the worker sending it, so that no two send the same stream at once.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookAttempt(Base):
    """One HTTP request of a delivery: what came back, how long it took, what went wrong."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)


class Block(Base):
    """A blocklist entry: a picture or a video that later uploads must not match; its features
    outlive what it was blocked from. (The table keeps the name it had when only pictures were
    blocked.)"""

    __tablename__ = "blocked_images"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    collection: Mapped[str] = mapped_column(ForeignKey("collections.name"), index=True)
    # "image" or "video": what was blocked, and so where its features are (image_features, or
    # video_features with each kept frame's in image_features).
    media: Mapped[str] = mapped_column(String(10), default="image", server_default="image")
    sha256: Mapped[str] = mapped_column(String(64))
    # The image or video it was taken from, if any (it may have been deleted since).
    image_id: Mapped[str | None] = mapped_column(String(36))
    video_id: Mapped[str | None] = mapped_column(String(36))
    filename: Mapped[str | None] = mapped_column(String(500))
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NotDuplicate(Base):
    """Two pictures (by the SHA-256 of their bytes) a person said are not duplicates."""

    __tablename__ = "not_duplicates"
    __table_args__ = (UniqueConstraint("tenant", "sha256_a", "sha256_b"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(100))
    # sha256_a < sha256_b, so each pair is stored once.
    sha256_a: Mapped[str] = mapped_column(String(64), index=True)
    sha256_b: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Scan(Base):
    """A duplicate scan of a collection (or a filtered part of it), run as a background job."""

    __tablename__ = "scans"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    collection: Mapped[str] = mapped_column(ForeignKey("collections.name"), index=True)
    status: Mapped[ScanStatus] = mapped_column(Word(ScanStatus))
    threshold: Mapped[float] = mapped_column(Float)
    filters: Mapped[dict[str, Any]] = mapped_column(JSON)
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    groups: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(100))
    # The run that claimed it last: only that run may write its groups.
    runner: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Moved on by every progress report: a running scan whose heartbeat stops is run again.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ScanGroup(Base):
    """One group of duplicates a scan found, and what a person did about it."""

    __tablename__ = "scan_groups"
    __table_args__ = (UniqueConstraint("scan_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scan_id: Mapped[str] = mapped_column(ForeignKey("scans.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 1-based, biggest groups first
    # "image" or "video": a scan groups a collection's images, and its videos among themselves.
    media: Mapped[str] = mapped_column(String(10), default="image", server_default="image")
    keeper: Mapped[str] = mapped_column(String(36))
    keeper_rule: Mapped[str] = mapped_column(Text)
    images: Mapped[list[Any]] = mapped_column(JSON)  # image (or video) ids, keeper first
    # [{"a", "b", "score", "tier"}]; a video pair adds "offset_seconds" (where a lies in b),
    # "relation" (same, a_within_b, b_within_a), "a_coverage" and "b_coverage".
    pairs: Mapped[list[Any]] = mapped_column(JSON)
    resolution: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
