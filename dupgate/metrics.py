"""Prometheus metrics of the whole deployment, read at scrape time from the database and broker.

A counter kept in one process would show only that gateway's or worker's share; the database
holds every upload, delivery and scan, and the broker every queue, so any gateway answers the
same. Upload and delivery counts are gauges: a review turns a held upload into another outcome
and deleting a collection removes its rows, so a per-label count can go down.

One scrape costs five aggregate queries and one Redis round trip: uploads grouped by status,
outcome and tier, one pass over decided uploads for each latency histogram, deliveries and scans
grouped by status, and the unfinished scans' progress. The upload queries read every upload row
once (no per-row work in Python), so their cost grows with the table: scrape every 30–60 s.
"""

import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import ColumnElement, Float, and_, case, cast, func, select
from sqlalchemy.orm import QueryableAttribute, Session

from dupgate.readiness import broker_client, broker_url
from dupgate.settings import QUEUES, Settings
from dupgate.store.db import read_scope
from dupgate.store.models import Scan, Upload, WebhookDelivery
from dupgate.vocabulary import DeliveryStatus, ScanStatus, UploadStatus

log = logging.getLogger(__name__)

# Upper bounds (seconds) of the latency buckets: a decision is normally under a second, and
# minutes only with a backlog.
DECISION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
ANALYSIS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# Kombu's Redis transport keeps a queue's messages of priority p > 0 in a list of its own.
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


class DeploymentCollector(Collector):
    """Uploads, latencies, queues, webhook deliveries and scans of everything sharing the database."""

    def __init__(self, settings: Settings) -> None:
        self.database_url = settings.resolved_database_url
        self.broker_url = broker_url(settings)

    def collect(self) -> Iterator[Metric]:
        with read_scope(self.database_url) as session:
            yield from _uploads(session)
            yield _histogram(
                session,
                "dupgate_decision_latency_seconds",
                "Seconds from an upload's arrival to its decision, over decided uploads.",
                _seconds_between(session, Upload.created_at, Upload.decided_at),
                Upload.decided_at.is_not(None),
                DECISION_BUCKETS,
            )
            yield _histogram(
                session,
                "dupgate_analysis_latency_seconds",
                "Seconds a worker spent reading, decoding and embedding an upload's bytes.",
                Upload.analysis_seconds,
                Upload.analysis_seconds.is_not(None),
                ANALYSIS_BUCKETS,
            )
            yield from _deliveries(session)
            yield from _scans(session)
        yield from _queues(self.broker_url)


def _uploads(session: Session) -> Iterator[Metric]:
    uploads = GaugeMetricFamily(
        "dupgate_uploads",
        "Uploads by status and, once decided, outcome and tier.",
        labels=["status", "outcome", "tier"],
    )
    rows = session.execute(
        select(Upload.status, Upload.action, Upload.tier, func.count()).group_by(
            Upload.status, Upload.action, Upload.tier
        )
    )
    for status, outcome, tier, count in rows:
        uploads.add_metric([status, outcome or "", tier or ""], count)
    yield uploads


def _seconds_between(
    session: Session, start: QueryableAttribute[Any], end: QueryableAttribute[Any]
) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "sqlite":
        # SQLite keeps moments as text; julianday() reads them as days.
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return cast(func.extract("epoch", end - start), Float)


def _histogram(
    session: Session,
    name: str,
    documentation: str,
    seconds: ColumnElement[Any] | QueryableAttribute[Any],
    counted: ColumnElement[bool],
    bounds: Sequence[float],
) -> Metric:
    # One pass: a conditional count per bucket, the count and the sum.
    columns = [func.sum(case((seconds <= bound, 1), else_=0)) for bound in bounds]
    decided = and_(Upload.status == UploadStatus.DECIDED, counted)
    row = session.execute(select(*columns, func.count(), func.sum(seconds)).where(decided)).one()
    *cumulative, count, total = row
    buckets = [(str(bound), int(n or 0)) for bound, n in zip(bounds, cumulative, strict=True)]
    family = HistogramMetricFamily(name, documentation)
    family.add_metric([], buckets + [("+Inf", int(count))], sum_value=float(total or 0.0))
    return family


def _deliveries(session: Session) -> Iterator[Metric]:
    yield _by_status(
        session,
        "dupgate_webhook_deliveries",
        "Webhook deliveries by status: pending (retrying), delivered, dead, cancelled.",
        WebhookDelivery.status,
        DeliveryStatus,
    )


def _by_status(
    session: Session,
    name: str,
    documentation: str,
    status: QueryableAttribute[Any],
    statuses: Iterable[str],
) -> Metric:
    """Rows per status, every status listed: 0 too, so that an alert has a series to watch."""
    family = GaugeMetricFamily(name, documentation, labels=["status"])
    counts = {
        found: count
        for found, count in session.execute(select(status, func.count()).group_by(status))
    }
    for each in statuses:
        family.add_metric([each], counts.get(each, 0))
    return family


def _scans(session: Session) -> Iterator[Metric]:
    yield _by_status(
        session, "dupgate_scans", "Duplicate scans by status.", Scan.status, ScanStatus
    )
    # Only unfinished scans: a finished one's series ends, so the label set stays small.
    done = GaugeMetricFamily(
        "dupgate_scan_images_done",
        "Images and videos an unfinished scan has compared.",
        labels=["scan"],
    )
    total = GaugeMetricFamily(
        "dupgate_scan_images",
        "Images and videos an unfinished scan compares in all.",
        labels=["scan"],
    )
    unfinished = (ScanStatus.QUEUED, ScanStatus.RUNNING)
    progress = session.execute(
        select(Scan.id, Scan.done, Scan.total).where(Scan.status.in_(unfinished))
    )
    for scan_id, scan_done, scan_total in progress:
        done.add_metric([scan_id], scan_done)
        total.add_metric([scan_id], scan_total)
    yield done
    yield total


def _queues(url: str) -> Iterable[Metric]:
    queued = GaugeMetricFamily(
        "dupgate_queue_messages",
        "Tasks waiting in each Celery queue of the broker (not those a worker has taken).",
        labels=["queue"],
    )
    up = GaugeMetricFamily("dupgate_broker_up", "1 if the broker answered this scrape, else 0.")
    try:
        with broker_client(url).pipeline(transaction=False) as pipe:
            for queue in QUEUES:
                for suffix in _PRIORITY_SUFFIXES:
                    pipe.llen(queue + suffix)
            lengths = pipe.execute()
    except Exception:
        log.warning("metrics: the broker did not answer; queue depths left out", exc_info=True)
        up.add_metric([], 0)
        return [up]
    per_queue = len(_PRIORITY_SUFFIXES)
    for i, queue in enumerate(QUEUES):
        queued.add_metric([queue], sum(lengths[i * per_queue : (i + 1) * per_queue]))
    up.add_metric([], 1)
    return [queued, up]
