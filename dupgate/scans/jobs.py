"""Scans of stored collections: one image against the collection, or the whole (or a filtered
part) of it as a background job with progress, groups, and a report. Stored features only.

A full scan groups the collection's images, and its videos among themselves (with the video
matcher of uploads, `scans/videos.py`); each group says which (`ScanGroup.media`).

A running scan beats its heart every HEARTBEAT seconds; the workers' sweep runs again a scan
whose heart stopped (its worker died). Only the run that claimed the scan last may write its
groups, so a scan that was run twice still has one set of them.
"""

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from dupgate.analysis import Features
from dupgate.analysis.video import VideoFeatures
from dupgate.curation.not_duplicates import not_duplicate_pairs, not_duplicates_of
from dupgate.events.audit import SYSTEM, record_event
from dupgate.matching.registry import IndexRegistry
from dupgate.matching.score import score, tier_of
from dupgate.scans.groups import Group, Pair, ScanImage, find_groups
from dupgate.scans.scope import (
    ScanFilter,
    full_features,
    images_in_scope,
    scan_images,
    stored_scan_image,
    videos_in_scope,
)
from dupgate.scans.videos import VideoGroup, group_videos
from dupgate.store.models import Collection, Image, Scan, ScanGroup, Video, VideoFeaturesRow, utcnow
from dupgate.store.paging import Key, Order, Slice, read_page
from dupgate.tenancy.collections import get_collection
from dupgate.tenancy.keys import Caller
from dupgate.tenancy.visibility import visible_scan
from dupgate.uploads.videos import load_video_features
from dupgate.vocabulary import ScanStatus, Tier

log = logging.getLogger(__name__)


Transaction = Callable[[], AbstractContextManager[Session]]


HEARTBEAT = timedelta(seconds=30)


# A single scan asks the index for more neighbours than an upload: a picture may have many copies.
SINGLE_SCAN_NEIGHBOURS = 100


class InvalidScan(ValueError):
    """A scan that cannot be run as asked; the message says why."""


class ScanNotDone(ValueError):
    """The scan has no groups yet: it is queued, running, or failed."""


# The orders lists are read in: a collection's scans newest first, a scan's groups biggest first.
SCANS = Order(Scan.created_at, Scan.id, descending=True)


GROUPS = Order(ScanGroup.number)


@dataclass(frozen=True)
class Duplicate:
    """An image that duplicates the one a single scan looked at."""

    image_id: str
    external_id: str | None
    score: float
    tier: Tier


def check_threshold(threshold: float) -> None:
    """InvalidScan unless the threshold is a usable score."""
    if not 0.0 < threshold <= 1.0:
        raise InvalidScan(f"threshold must be above 0 and at most 1, not {threshold}")


def duplicates_of(
    session: Session,
    registry: IndexRegistry,
    image: Image,
    threshold: float,
    scope: ScanFilter,
) -> list[Duplicate]:
    """The images of the image's collection (inside the filter) that duplicate it, best first.

    The score is the higher of the two directions, as in a full scan, so A lists B whenever B
    lists A.
    """
    check_threshold(threshold)
    collection = get_collection(session, image.collection)
    index = registry.synced(session, image.collection)
    query = stored_scan_image(session, image).features
    excluded = not_duplicates_of(session, collection.tenant, query.sha256)
    scores: dict[str, float] = {}
    for entry in index.candidates(query, SINGLE_SCAN_NEIGHBOURS):
        other = entry.features
        if entry.image_id == image.id or other.sha256 in excluded:
            continue
        value = max(score(query, other), score(other, query))
        if value >= threshold:
            scores[entry.image_id] = value
    rows = session.scalars(select(Image).where(Image.id.in_(scores))).all()
    found = [
        Duplicate(
            row.id,
            row.external_id,
            round(scores[row.id], 4),
            tier_of(scores[row.id], collection.exact_threshold, threshold),
        )
        for row in rows
        if scope.keeps(row)
    ]
    return sorted(found, key=lambda m: (-m.score, m.image_id))


def create_scan(
    session: Session,
    collection: Collection,
    threshold: float | None,
    scope: ScanFilter,
    caller: Caller,
) -> Scan:
    """Record a queued scan of the collection; the caller enqueues run_scan after the commit."""
    threshold = collection.near_threshold if threshold is None else threshold
    check_threshold(threshold)
    scan = Scan(
        id=str(uuid.uuid4()),
        collection=collection.name,
        status=ScanStatus.QUEUED,
        threshold=threshold,
        filters=scope.to_json(),
        total=0,
        done=0,
        groups=0,
        actor=caller.actor,
    )
    session.add(scan)
    session.flush()
    return scan


def _read_full(transaction: Transaction, images: Sequence[ScanImage]) -> list[Features]:
    with transaction() as session:
        return full_features(session, images)


def run_scan(
    transaction: Transaction,
    registry: IndexRegistry,
    scan_id: str,
    *,
    stale_after: timedelta,
    progress_every: float = 1.0,
) -> None:
    """Run a queued scan (or one whose worker died) to its groups; a finished one is left alone."""
    runner = str(uuid.uuid4())
    with transaction() as session:
        if not _claim(session, scan_id, runner, stale_after):
            return
        scan = session.get_one(Scan, scan_id)
        collection = get_collection(session, scan.collection)
        index = registry.synced(session, scan.collection)
        # An in-memory index holds every image's features anyway; read from the database,
        # the scan keeps only the light ones and reads the rest for the pairs it verifies.
        lightly = registry.backend == "pgvector"
        scope = ScanFilter.from_json(scan.filters)
        images = scan_images(
            images_in_scope(session, scan.collection, scope), index, lightly=lightly
        )
        videos = [_ScanVideo.of(v) for v in videos_in_scope(session, scan.collection, scope)]
        refused = not_duplicate_pairs(session, collection.tenant)
        scan.total = len(images) + len(videos)
        threshold, exact = scan.threshold, collection.exact_threshold

    stop = threading.Event()
    heart = threading.Thread(
        target=_beat, args=(transaction, scan_id, runner, stop), name=f"scan-{scan_id}", daemon=True
    )
    heart.start()
    try:
        progress = _Progress(transaction, scan_id, runner, progress_every)
        groups = find_groups(
            images,
            index,
            threshold=threshold,
            exact=exact,
            not_duplicates=refused,
            progress=progress,
            full_features=partial(_read_full, transaction) if lightly else None,
        )
        video_groups = group_videos(
            _read_videos(transaction, videos, progress),
            threshold=threshold,
            exact=exact,
            not_duplicates=refused,
            created_at={v.id: v.created_at for v in videos},
        )
    except Exception as e:
        log.exception("scan %s failed", scan_id)
        with transaction() as session:
            _finish(session, scan_id, runner, ScanStatus.FAILED, error=f"{type(e).__name__}: {e}")
        return
    finally:
        stop.set()
        heart.join()
    # Biggest first whatever they hold; of groups as big, those of images first.
    rows = sorted(
        [_image_group(g) for g in groups] + [_video_group(g) for g in video_groups],
        key=lambda row: -len(row.images),
    )
    with transaction() as session:
        if _finish(session, scan_id, runner, ScanStatus.DONE):
            for number, row in enumerate(rows, 1):
                row.scan_id, row.number = scan_id, number
                session.add(row)
            scan = session.get_one(Scan, scan_id)
            scan.groups = len(rows)
            record_event(
                session,
                "scan.finished",
                tenant=collection.tenant,
                actor=SYSTEM,
                collection=scan.collection,
                data={
                    "scan_id": scan_id,
                    "images": len(images),
                    "videos": len(videos),
                    "groups": len(rows),
                    "video_groups": len(video_groups),
                },
            )


@dataclass(frozen=True)
class _ScanVideo:
    """A video to scan: what is read of its row before the scan, to load its features by."""

    id: str
    sha256: str
    created_at: float  # unix seconds, for the "earliest" rule

    @classmethod
    def of(cls, video: Video) -> "_ScanVideo":
        return cls(video.id, video.sha256, video.created_at.timestamp())


def _read_videos(
    transaction: Transaction, videos: Sequence[_ScanVideo], progress: Callable[[int], None]
) -> dict[str, VideoFeatures]:
    """Each video's stored analysis, by id, one short transaction each (a video deleted since
    the scan began is left out); each counts as scanned once read."""
    found: dict[str, VideoFeatures] = {}
    for video in videos:
        with transaction() as session:
            row = session.get(VideoFeaturesRow, video.sha256)
            if row is not None:
                found[video.id] = load_video_features(session, row.data)
        progress(1)
    return found


def _image_group(group: Group) -> ScanGroup:
    return ScanGroup(
        media="image",
        keeper=group.keeper,
        keeper_rule=group.keeper_rule,
        images=list(group.images),
        pairs=[{"a": p.a, "b": p.b, "score": p.score, "tier": p.tier} for p in group.pairs],
    )


def _video_group(group: VideoGroup) -> ScanGroup:
    return ScanGroup(
        media="video",
        keeper=group.keeper,
        keeper_rule=group.keeper_rule,
        images=list(group.videos),
        pairs=group.pairs(),
    )


def _claim(session: Session, scan_id: str, runner: str, stale_after: timedelta) -> bool:
    now = utcnow()
    claimed = session.execute(
        update(Scan)
        .where(
            Scan.id == scan_id,
            or_(
                Scan.status == ScanStatus.QUEUED,
                (Scan.status == ScanStatus.RUNNING) & (Scan.updated_at < now - stale_after),
            ),
        )
        .values(status=ScanStatus.RUNNING, runner=runner, started_at=now, updated_at=now, done=0)
        .execution_options(synchronize_session=False)
    )
    return bool(claimed.rowcount)  # type: ignore[attr-defined]


def _finish(
    session: Session, scan_id: str, runner: str, status: ScanStatus, error: str | None = None
) -> bool:
    """End the scan if this run still owns it (a run the sweep replaced writes nothing)."""
    scan = session.get(Scan, scan_id, with_for_update=True, populate_existing=True)
    if scan is None or scan.runner != runner or scan.status != ScanStatus.RUNNING:
        return False
    now = utcnow()
    scan.status, scan.error = status, error
    if status == ScanStatus.DONE:
        scan.done = scan.total
    scan.finished_at = scan.updated_at = now
    return True


def _touch(transaction: Transaction, scan_id: str, runner: str, done: int = 0) -> None:
    with transaction() as session:
        session.execute(
            update(Scan)
            .where(Scan.id == scan_id, Scan.runner == runner, Scan.status == ScanStatus.RUNNING)
            .values(done=Scan.done + done, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )


def _beat(transaction: Transaction, scan_id: str, runner: str, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT.total_seconds()):
        try:
            _touch(transaction, scan_id, runner)
        except Exception:
            log.exception("could not record the heartbeat of scan %s", scan_id)


class _Progress:
    """Counts queried images and writes the count at most every `every` seconds."""

    def __init__(self, transaction: Transaction, scan_id: str, runner: str, every: float) -> None:
        self._transaction, self._scan_id, self._runner = transaction, scan_id, runner
        self._every = every
        self._pending = 0
        self._last = time.monotonic()

    def __call__(self, done: int) -> None:
        self._pending += done
        if time.monotonic() - self._last >= self._every:
            _touch(self._transaction, self._scan_id, self._runner, self._pending)
            self._pending = 0
            self._last = time.monotonic()


def stale_scan_ids(
    session: Session, stale_after: timedelta, now: datetime | None = None
) -> list[str]:
    """Scans to (re)start: queued or running with no heartbeat for `stale_after` (lost message or
    dead worker)."""
    cutoff = (now or utcnow()) - stale_after
    return list(
        session.scalars(
            select(Scan.id).where(
                Scan.status.in_((ScanStatus.QUEUED, ScanStatus.RUNNING)), Scan.updated_at < cutoff
            )
        )
    )


def finished_scan(session: Session, caller: Caller, scan_id: str) -> Scan:
    """The scan if the caller may see it and it is done (ScanNotDone otherwise)."""
    scan = visible_scan(session, caller, scan_id)
    if scan.status != ScanStatus.DONE:
        progress = (
            f" ({scan.done}/{scan.total} images and videos)"
            if scan.status == ScanStatus.RUNNING
            else ""
        )
        raise ScanNotDone(
            f"scan {scan_id} is {scan.status}{progress}; its groups are ready when it is done"
        )
    return scan


def collection_scans(
    session: Session, collection: str, *, after: Key | None = None, limit: int = 100
) -> Slice[Scan]:
    """A page of the collection's scans, newest first."""
    return read_page(
        session, select(Scan).where(Scan.collection == collection), SCANS, after, limit
    )


def scan_groups(
    session: Session, scan_id: str, *, after: Key | None = None, limit: int = 100
) -> Slice[ScanGroup]:
    """A page of a finished scan's groups, biggest first."""
    query = select(ScanGroup).where(ScanGroup.scan_id == scan_id)
    return read_page(session, query, GROUPS, after, limit)


@dataclass(frozen=True)
class Member:
    """An image or video of a group: its row (None once deleted) and its best pair in the group."""

    id: str  # the image's id, or the video's in a group of videos
    row: Image | Video | None
    score: float
    tier: Tier
    pair: dict[str, Any]  # that pair as stored (a video pair has its offset and relation)


def members(session: Session, groups: list[ScanGroup]) -> dict[int, list[Member]]:
    """Each group's images or videos (by group id), keeper first, with their best pair."""

    def ids(media: str) -> set[str]:
        return {key for group in groups if group.media == media for key in group.images}

    rows: dict[str, dict[str, Image | Video]] = {"image": {}, "video": {}}
    for image in session.scalars(select(Image).where(Image.id.in_(ids("image")))):
        rows["image"][image.id] = image
    for video in session.scalars(select(Video).where(Video.id.in_(ids("video")))):
        rows["video"][video.id] = video
    found: dict[int, list[Member]] = {}
    for group in groups:
        found[group.id] = []
        for key in group.images:
            best = max(
                (p for p in group.pairs if key in (p["a"], p["b"])), key=lambda p: p["score"]
            )
            found[group.id].append(
                Member(key, rows[group.media].get(key), best["score"], Tier(best["tier"]), best)
            )
    return found


def engine_group(row: ScanGroup) -> Group:
    """A stored group as the scan engine made it (for the report)."""
    return Group(
        row.keeper,
        row.keeper_rule,
        tuple(row.images),
        tuple(Pair(p["a"], p["b"], p["score"], Tier(p["tier"])) for p in row.pairs),
    )
