"""A self-contained HTML report of duplicate groups that a person can read offline.

One file: inline CSS, thumbnails as base64 `data:` URIs, no script and no external request, so
it can be mailed, archived or opened from a USB stick. Every text from outside (paths, ids,
captions) is escaped.
"""

import base64
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from html import escape

from dupgate.analysis.decode import decode
from dupgate.analysis.preview import PREVIEW_SIDE, preview_jpeg
from dupgate.scans.groups import Group, Pair, ScanImage

THUMBNAIL_SIDE = PREVIEW_SIDE

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:22px;margin:0 0 4px}
.summary{color:#555;margin:0 0 20px}
section.group{background:#fff;border:1px solid #ddd;border-radius:8px;padding:14px 16px;margin:0 0 18px}
section.group h2{font-size:16px;margin:0 0 4px}
.rule{color:#555;margin:0 0 10px}
.images{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0;width:172px;border:2px solid #ddd;border-radius:6px;padding:4px;background:#fff}
figure.keeper{border-color:#2e7d32;background:#f1f8f1}
figure img{display:block;max-width:160px;max-height:160px;margin:0 auto}
.missing{width:160px;height:100px;display:flex;align-items:center;justify-content:center;color:#999;background:#eee}
figcaption{font-size:12px;word-break:break-all;margin-top:4px}
.badge{display:inline-block;font-size:11px;font-weight:bold;padding:1px 6px;border-radius:3px;color:#fff}
.badge.keeper{background:#2e7d32}
.badge.exact{background:#c62828}
.badge.near{background:#ef6c00}
.facts{color:#666}
table.pairs{border-collapse:collapse;margin-top:10px;font-size:12px}
table.pairs td,table.pairs th{border-bottom:1px solid #eee;padding:2px 10px 2px 0;text-align:left;word-break:break-all}
"""


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
    captions = captions or {}
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="summary">{escape(summary or _default_summary(groups))}</p>',
    ]
    for number, group in enumerate(groups, 1):
        parts.append(_group_html(number, group, images, thumbnail, captions))
    if not groups:
        parts.append("<p>No duplicates found.</p>")
    if skipped:
        items = "".join(f"<li>{escape(key)}: {escape(why)}</li>" for key, why in skipped)
        parts.append(f'<section class="skipped"><h2>Not scanned</h2><ul>{items}</ul></section>')
    parts.append("</body></html>")
    return "\n".join(parts)


def _default_summary(groups: Sequence[Group]) -> str:
    in_groups = sum(len(g.images) for g in groups)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{len(groups)} groups, {in_groups} images in them; made {when}."


def _group_html(
    number: int,
    group: Group,
    images: Mapping[str, ScanImage],
    thumbnail: Callable[[str], bytes | None],
    captions: Mapping[str, str],
) -> str:
    best = group.best_pairs()
    figures = "\n".join(
        _figure_html(key, key == group.keeper, best[key], images.get(key), thumbnail, captions)
        for key in group.images
    )
    rows = "\n".join(
        f"<tr><td>{escape(p.a)}</td><td>{escape(p.b)}</td><td>{p.score:.3f}</td>"
        f'<td><span class="badge {escape(p.tier)}">{escape(p.tier)}</span></td></tr>'
        for p in group.pairs
    )
    return (
        f'<section class="group" id="group-{number}">'
        f"<h2>Group {number}: {len(group.images)} images</h2>"
        f'<p class="rule">Keep <b>{escape(group.keeper)}</b>: {escape(group.keeper_rule)}</p>'
        f'<div class="images">{figures}</div>'
        '<table class="pairs"><tr><th>image</th><th>image</th><th>score</th><th>tier</th></tr>'
        f"{rows}</table></section>"
    )


def _figure_html(
    key: str,
    is_keeper: bool,
    best: Pair,
    image: ScanImage | None,
    thumbnail: Callable[[str], bytes | None],
    captions: Mapping[str, str],
) -> str:
    jpeg = thumbnail(key)
    if jpeg:
        data = base64.b64encode(jpeg).decode("ascii")
        picture = f'<img src="data:image/jpeg;base64,{data}" alt="{escape(key)}">'
    else:
        picture = '<div class="missing">no preview</div>'
    lines = [f"<div>{escape(key)}</div>"]
    if key in captions:
        lines.append(f'<div class="facts">{escape(captions[key])}</div>')
    if image is not None:
        f = image.features
        lines.append(f'<div class="facts">{f.width}×{f.height} px, {_bytes(image.size)}</div>')
    badge = '<span class="badge keeper">KEEP</span> ' if is_keeper else ""
    lines.append(
        f'<div>{badge}<span class="badge {escape(best.tier)}">{escape(best.tier)}</span> '
        f"{best.score:.3f}</div>"
    )
    css = "keeper" if is_keeper else "copy"
    return f'<figure class="{css}">{picture}<figcaption>{"".join(lines)}</figcaption></figure>'


def _bytes(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def thumbnail_jpeg(data: bytes, side: int = THUMBNAIL_SIDE) -> bytes:
    """A JPEG of at most side×side pixels of an image's bytes, upright (InvalidImage if not one)."""
    return preview_jpeg(decode(data).picture, side)
