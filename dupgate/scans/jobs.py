"""Scans of stored collections: one image against the collection, or the whole (or a filtered
part) of it as a background job with progress, groups, and a report. Stored features only.

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

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from dupgate.analysis import Features
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
)
from dupgate.store.models import Collection, Image, Scan, ScanGroup, utcnow
from dupgate.store.paging import Key, Order, Slice, read_page
from dupgate.tenancy.collections import get_collection
from dupgate.tenancy.keys import Caller
from dupgate.tenancy.visibility import visible_scan
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
        images = scan_images(
            images_in_scope(session, scan.collection, ScanFilter.from_json(scan.filters)),
            index,
            lightly=lightly,
        )
        refused = not_duplicate_pairs(session, collection.tenant)
        scan.total = len(images)
        threshold, exact = scan.threshold, collection.exact_threshold

    stop = threading.Event()
    heart = threading.Thread(
        target=_beat, args=(transaction, scan_id, runner, stop), name=f"scan-{scan_id}", daemon=True
    )
    heart.start()
    try:
        groups = find_groups(
            images,
            index,
            threshold=threshold,
            exact=exact,
            not_duplicates=refused,
            progress=_Progress(transaction, scan_id, runner, progress_every),
            full_features=partial(_read_full, transaction) if lightly else None,
        )
    except Exception as e:
        log.exception("scan %s failed", scan_id)
        with transaction() as session:
            _finish(session, scan_id, runner, ScanStatus.FAILED, error=f"{type(e).__name__}: {e}")
        return
    finally:
        stop.set()
        heart.join()
    with transaction() as session:
        if _finish(session, scan_id, runner, ScanStatus.DONE):
            for number, group in enumerate(groups, 1):
                session.add(
                    ScanGroup(
                        scan_id=scan_id,
                        number=number,
                        keeper=group.keeper,
                        keeper_rule=group.keeper_rule,
                        images=list(group.images),
                        pairs=[
                            {"a": p.a, "b": p.b, "score": p.score, "tier": p.tier}
                            for p in group.pairs
                        ],
                    )
                )
            scan = session.get_one(Scan, scan_id)
            scan.groups = len(groups)
            record_event(
                session,
                "scan.finished",
                tenant=collection.tenant,
                actor=SYSTEM,
                collection=scan.collection,
                data={"scan_id": scan_id, "images": scan.total, "groups": len(groups)},
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
            f" ({scan.done}/{scan.total} images)" if scan.status == ScanStatus.RUNNING else ""
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
    """An image of a group: its row (None once deleted) and its best score and tier in the group."""

    image_id: str
    image: Image | None
    score: float
    tier: Tier


def members(session: Session, groups: list[ScanGroup]) -> dict[int, list[Member]]:
    """Each group's images (by group id), keeper first, with their best pair in the group."""
    ids = {image_id for group in groups for image_id in group.images}
    rows = {row.id: row for row in session.scalars(select(Image).where(Image.id.in_(ids)))}
    found: dict[int, list[Member]] = {}
    for group in groups:
        found[group.id] = []
        for image_id in group.images:
            best = max(
                (p for p in group.pairs if image_id in (p["a"], p["b"])), key=lambda p: p["score"]
            )
            found[group.id].append(
                Member(image_id, rows.get(image_id), best["score"], Tier(best["tier"]))
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
