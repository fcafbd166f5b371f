"""A page of a stored scan's HTML report: its groups with the previews stored at analysis (of
images, and of videos' first kept frames)."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from dupgate.analysis.preview import preview_key
from dupgate.scans.jobs import Member, engine_group, members, scan_groups
from dupgate.scans.report import ReportVideo, VideoReportGroup, render_report
from dupgate.scans.scope import stored_scan_image
from dupgate.store.blobs import BlobNotFound, BlobStore
from dupgate.store.models import Image, Scan, ScanGroup, Video

# Groups per page: each carries its thumbnails inside the page.
REPORT_PAGE = 200


@dataclass
class ReportPage:
    """The page, and the images (blob key, sha256) whose stored preview was missing."""

    html: str
    missing_previews: list[tuple[str, str]]


def report_page(session: Session, store: BlobStore, scan: Scan, page: int) -> ReportPage:
    """Page `page` (from 1) of a finished scan's report; never decodes an image."""
    # Groups are numbered from 1 without gaps: page p starts after number (p - 1) * size.
    groups = scan_groups(
        session, scan.id, after=((page - 1) * REPORT_PAGE,), limit=REPORT_PAGE
    ).rows
    ids = {key for g in groups if g.media == "image" for key in g.images}
    rows = {r.id: r for r in session.scalars(select(Image).where(Image.id.in_(ids)))}
    pages = max(1, -(-scan.groups // REPORT_PAGE))
    assert scan.finished_at is not None, "only a finished scan has a report"
    summary = (
        f"Collection {scan.collection}: {scan.groups} groups among {scan.total} images and "
        f"videos at "
        f"threshold {scan.threshold:.2f}; page {page} of {pages}. "
        f"Scan {scan.id}, finished {scan.finished_at:%Y-%m-%d %H:%M} UTC."
    )
    missing: list[tuple[str, str]] = []

    def thumbnail(key: str) -> bytes | None:
        # Images analysed before previews existed have none: the caller may have them made,
        # for the next load of the page.
        row = rows.get(key)
        if row is None or not row.blob_key:
            return None
        try:
            return store.get(preview_key(row.sha256))
        except BlobNotFound:
            missing.append((row.blob_key, row.sha256))
            return None

    videos = members(session, [g for g in groups if g.media == "video"])
    html = render_report(
        [
            engine_group(g) if g.media == "image" else _video_group(g, videos[g.id], store)
            for g in groups
        ],
        {i: stored_scan_image(session, r) for i, r in rows.items()},
        thumbnail,
        captions={i: f"external id {r.external_id}" for i, r in rows.items() if r.external_id},
        title=f"dupgate: duplicates in {scan.collection}",
        summary=summary,
        first_number=(page - 1) * REPORT_PAGE + 1,
    )
    return ReportPage(html, missing)


def _video_group(group: ScanGroup, found: list[Member], store: BlobStore) -> VideoReportGroup:
    return VideoReportGroup(
        group.keeper,
        group.keeper_rule,
        tuple(_video(m, store) for m in found),
        tuple(group.pairs),
    )


def _video(member: Member, store: BlobStore) -> ReportVideo:
    row = member.row
    if row is None:
        return ReportVideo(member.id, None, None, None, None, None, member.score, member.tier)
    assert isinstance(row, Video)
    try:
        preview: bytes | None = store.get(preview_key(row.sha256))
    except BlobNotFound:
        preview = None  # analysed before previews of videos were kept
    return ReportVideo(
        member.id,
        f"external id {row.external_id}" if row.external_id else None,
        row.duration,
        row.width,
        row.height,
        row.size,
        member.score,
        member.tier,
        preview,
    )
