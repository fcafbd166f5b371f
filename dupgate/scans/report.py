"""A self-contained HTML report of duplicate groups that a person can read offline.

One file: inline CSS, thumbnails as base64 `data:` URIs, no script and no external request, so
it can be mailed, archived or opened from a USB stick. The page is the Jinja2 template
`templates/report.html`, rendered with autoescape: every text from outside (paths, ids,
captions) is escaped.
"""

import base64
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

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


def render_report(
    groups: Sequence[Group],
    images: Mapping[str, ScanImage],
    thumbnail: Callable[[str], bytes | None],
    *,
    captions: Mapping[str, str] | None = None,
    title: str = "dupgate: duplicate scan",
    summary: str = "",
    skipped: Sequence[tuple[str, str]] = (),
) -> str:
    """The HTML page of `groups`; `thumbnail(key)` gives JPEG bytes (or None) for an image.

    `images` gives each key's size and dimensions; `captions` an optional line per key (an
    external id, say) shown under its label; `skipped` (key, why) what could not be scanned.
    """
    return _TEMPLATES.get_template("report.html").render(
        groups=groups,
        images=images,
        thumbnail=thumbnail,
        captions=captions or {},
        title=title,
        summary=summary or _default_summary(groups),
        skipped=skipped,
    )


def _default_summary(groups: Sequence[Group]) -> str:
    in_groups = sum(len(g.images) for g in groups)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{len(groups)} groups, {in_groups} images in them; made {when}."


def thumbnail_jpeg(data: bytes, side: int = THUMBNAIL_SIDE) -> bytes:
    """A JPEG of at most side×side pixels of an image's bytes, upright (InvalidImage if not one)."""
    return preview_jpeg(decode(data).picture, side)
