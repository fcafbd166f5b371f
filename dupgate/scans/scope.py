"""Which images and videos of a collection a scan looks at: all of them, or those a filter
keeps."""

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from dupgate.analysis import Features
from dupgate.matching.indexes import ImageIndex
from dupgate.matching.pgvector import load_features
from dupgate.scans.groups import ScanImage, light
from dupgate.store.models import Image, ImageFeatures, Video, as_utc

# Images whose features are asked of the index at once.
_BATCH = 1000


class Filed(Protocol):
    """What a filter reads of a committed image or video."""

    @property
    def labels(self) -> list[Any]: ...
    @property
    def external_id(self) -> str | None: ...
    @property
    def created_at(self) -> datetime: ...


# A table whose committed rows a scan groups: images, or videos among themselves.
Row = TypeVar("Row", Image, Video)


class InvalidFilter(ValueError):
    """A scan filter that cannot be applied; the message says why."""


@dataclass(frozen=True)
class ScanFilter:
    """A part of a collection; every field that is set must hold (empty: the whole collection)."""

    labels: tuple[str, ...] = ()  # images with at least one of these labels
    exclude_labels: tuple[str, ...] = ()  # images with none of these
    external_id_prefix: str | None = None
    created_after: datetime | None = None  # inclusive
    created_before: datetime | None = None  # exclusive

    def __post_init__(self) -> None:
        after, before = self.created_after, self.created_before
        if after and before and as_utc(after) >= as_utc(before):
            raise InvalidFilter("created_after must be earlier than created_before")

    def keeps(self, item: Filed) -> bool:
        """Whether the image (or video) is inside the filter."""
        labels = set(item.labels or ())
        if self.labels and not labels & set(self.labels):
            return False
        if labels & set(self.exclude_labels):
            return False
        prefix = self.external_id_prefix
        if prefix and not (item.external_id or "").startswith(prefix):
            return False
        created = item.created_at
        if self.created_after and created < as_utc(self.created_after):
            return False
        return not (self.created_before and created >= as_utc(self.created_before))

    def to_json(self) -> dict[str, Any]:
        """The filter as stored with a scan and shown by the API (unset fields left out)."""
        out: dict[str, Any] = {}
        for name, value in asdict(self).items():
            if isinstance(value, datetime):
                out[name] = as_utc(value).isoformat()
            elif isinstance(value, tuple) and value:
                out[name] = list(value)
            elif value and not isinstance(value, tuple):
                out[name] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ScanFilter":
        """The filter to_json wrote (or a request body of the same shape)."""
        unknown = set(data) - {
            "labels",
            "exclude_labels",
            "external_id_prefix",
            "created_after",
            "created_before",
        }
        if unknown:
            raise InvalidFilter(f"unknown filter {sorted(unknown)[0]!r}")

        def moment(name: str) -> datetime | None:
            value = data.get(name)
            if value is None:
                return None
            try:
                return as_utc(datetime.fromisoformat(str(value)))
            except ValueError as e:
                raise InvalidFilter(f"{name} must be an ISO 8601 time, not {value!r}") from e

        return cls(
            labels=tuple(data.get("labels") or ()),
            exclude_labels=tuple(data.get("exclude_labels") or ()),
            external_id_prefix=data.get("external_id_prefix") or None,
            created_after=moment("created_after"),
            created_before=moment("created_before"),
        )


def images_in_scope(session: Session, collection: str, scope: ScanFilter) -> list[Image]:
    """The collection's images (not link records: those are resolved already) inside the filter."""
    return in_scope(session, Image, collection, scope)


def videos_in_scope(session: Session, collection: str, scope: ScanFilter) -> list[Video]:
    """The collection's videos (not link records) inside the filter."""
    return in_scope(session, Video, collection, scope)


def in_scope(session: Session, row: type[Row], collection: str, scope: ScanFilter) -> list[Row]:
    """The collection's committed rows of this table (not link records) inside the filter,
    oldest first."""
    query = (
        select(row)
        .where(row.collection == collection, row.linked_to.is_(None))
        .order_by(row.created_at, row.id)
    )
    if scope.external_id_prefix:
        query = query.where(row.external_id.startswith(scope.external_id_prefix, autoescape=True))
    return [found for found in session.scalars(query) if scope.keeps(found)]


def scan_images(
    images: list[Image], index: ImageIndex, *, lightly: bool = False
) -> list[ScanImage]:
    """The images as the scan engine takes them, with the features the index holds (`lightly`:
    only what a scan needs of every image at once, `groups.light`).

    An image committed after the index was synced is left out; the next scan sees it.
    """
    found = []
    for start in range(0, len(images), _BATCH):
        batch = images[start : start + _BATCH]
        held = index.labelled([image.id for image in batch])
        for image in batch:
            if image.id in held:
                features = held[image.id][1]
                found.append(
                    ScanImage(
                        image.id,
                        light(features) if lightly else features,
                        image.size,
                        image.created_at.timestamp(),
                    )
                )
    return found


def full_features(session: Session, images: Sequence[ScanImage]) -> list[Features]:
    """The stored features of these scan images, in their order."""
    found = load_features(session, {image.features.sha256 for image in images})
    return [found[image.features.sha256] for image in images]


def stored_scan_image(session: Session, image: Image) -> ScanImage:
    """One image with its stored features, for a report or a single scan (no decoding)."""
    row = session.get(ImageFeatures, image.sha256)
    assert row is not None, "a committed image has stored features"
    return ScanImage(
        image.id, Features.from_bytes(row.data), image.size, image.created_at.timestamp()
    )
