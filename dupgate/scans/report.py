"""A self-contained HTML report of duplicate groups that a person can read offline.

One file: inline CSS, thumbnails as base64 `data:` URIs, no script and no external request, so
it can be mailed, archived or opened from a USB stick. The page is the Jinja2 template
`templates/report.html`, rendered with autoescape: every text from outside (paths, ids,
captions) is escaped.

A video shows the preview of its first kept frame (kept at analysis) marked as a video with its
length, or a labelled box where it has none; the pairs say how the videos line up.
"""

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from dupgate.analysis.decode import decode
from dupgate.analysis.preview import PREVIEW_SIDE, preview_jpeg
from dupgate.scans.groups import Group, ScanImage

THUMBNAIL_SIDE = PREVIEW_SIDE


def _bytes(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


_TEMPLATES = Environment(
    loader=PackageLoader("dupgate.scans"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
)
_TEMPLATES.filters["b64"] = lambda data: base64.b64encode(data).decode("ascii")
_TEMPLATES.filters["size"] = _bytes


@dataclass(frozen=True)
class ReportVideo:
    """A video of a group as the report shows it: its facts (None once deleted) and best pair."""

    key: str
    caption: str | None
    duration: float | None
    width: int | None
    height: int | None
    size: int | None
    score: float
    tier: str
    preview: bytes | None = None  # a JPEG of its first kept frame, where one was kept


@dataclass(frozen=True)
class VideoReportGroup:
    """A group of videos for the report: keeper first, and the pairs as a scan stores them."""

    keeper: str
    keeper_rule: str
    videos: tuple[ReportVideo, ...]
    pairs: tuple[dict[str, Any], ...]


_TEMPLATES.tests["videos"] = lambda group: isinstance(group, VideoReportGroup)


def render_report(
    groups: Sequence[Group | VideoReportGroup],
    images: Mapping[str, ScanImage],
    thumbnail: Callable[[str], bytes | None],
    *,
    captions: Mapping[str, str] | None = None,
    title: str = "dupgate: duplicate scan",
    summary: str = "",
    skipped: Sequence[tuple[str, str]] = (),
    first_number: int = 1,
) -> str:
    """The HTML page of `groups` (of images, or of videos); `thumbnail(key)` gives JPEG bytes
    (or None) for an image.

    `images` gives each image key's size and dimensions; `captions` an optional line per key
    (an external id, say) shown under its label; `skipped` (key, why) what could not be
    scanned; `first_number` the number of the first group (a later page of a long report).
    """
    return _TEMPLATES.get_template("report.html").render(
        groups=groups,
        images=images,
        thumbnail=thumbnail,
        captions=captions or {},
        title=title,
        summary=summary or _default_summary(groups),
        skipped=skipped,
        first_number=first_number,
    )


def _default_summary(groups: Sequence[Group | VideoReportGroup]) -> str:
    in_groups = sum(len(g.videos if isinstance(g, VideoReportGroup) else g.images) for g in groups)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{len(groups)} groups, {in_groups} images in them; made {when}."


def thumbnail_jpeg(data: bytes, side: int = THUMBNAIL_SIDE) -> bytes:
    """A JPEG of at most side×side pixels of an image's bytes, upright (InvalidImage if not one)."""
    return preview_jpeg(decode(data).picture, side)
