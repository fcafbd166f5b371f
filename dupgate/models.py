"""The database tables: the source of truth for collections, uploads, images and their features."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Collection(Base):
    """A set of images that uploads are checked against, with its policy and thresholds."""

    __tablename__ = "collections"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    exact_threshold: Mapped[float] = mapped_column(Float)
    near_threshold: Mapped[float] = mapped_column(Float)
    action_exact: Mapped[str] = mapped_column(String(20))
    action_near: Mapped[str] = mapped_column(String(20))
    action_unique: Mapped[str] = mapped_column(String(20))
    # Bumped by every decision: the UPDATE takes the row lock that serializes deciders.
    decisions: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Upload(Base):
    """One upload request and, once decided, its decision."""

    __tablename__ = "uploads"
    __table_args__ = (UniqueConstraint("collection", "idempotency_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    collection: Mapped[str] = mapped_column(ForeignKey("collections.name"), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)  # queued|processing|decided|failed
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    filename: Mapped[str | None] = mapped_column(String(500))
    external_id: Mapped[str | None] = mapped_column(String(500))
    labels: Mapped[list[Any]] = mapped_column(JSON, default=list)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    staging_key: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)

    action: Mapped[str | None] = mapped_column(String(20))
    tier: Mapped[str | None] = mapped_column(String(20))
    image_id: Mapped[str | None] = mapped_column(String(36))
    matches: Mapped[list[Any]] = mapped_column(JSON, default=list)
    reason: Mapped[str | None] = mapped_column(Text)

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ImageFeatures(Base):
    """Every signal of one picture's bytes, computed once and reused by everything after."""

    __tablename__ = "image_features"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Image(Base):
    """A committed image; a `link` record points at another image and has no blob of its own."""

    __tablename__ = "images"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    collection: Mapped[str] = mapped_column(ForeignKey("collections.name"), index=True)
    # The upload that committed this row; unique so that a retried task cannot commit twice.
    upload_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("image_features.sha256"), index=True)
    blob_key: Mapped[str | None] = mapped_column(String(300))
    linked_to: Mapped[str | None] = mapped_column(String(36), index=True)
    external_id: Mapped[str | None] = mapped_column(String(500), index=True)
    labels: Mapped[list[Any]] = mapped_column(JSON, default=list)
    filename: Mapped[str | None] = mapped_column(String(500))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(20))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IndexChange(Base):
    """An append-only log of what entered or left a collection's index, in commit order.

    Workers replay it from their last-seen `seq` to bring their in-memory index up to date.
    """

    __tablename__ = "index_changes"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    collection: Mapped[str] = mapped_column(String(200), index=True)
    image_id: Mapped[str] = mapped_column(String(36))
    op: Mapped[str] = mapped_column(String(10))  # add|remove
    sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKey(Base):
    """An API key, stored only as its SHA-256."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
