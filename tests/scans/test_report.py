"""The HTML report: self-contained, escaped, and readable in a real headless Chromium."""

import re
from pathlib import Path

import pytest

from dupgate.analysis import Embedder
from dupgate.matching.score import DEFAULT_EXACT, DEFAULT_NEAR
from dupgate.scans import Group, ScanImage, find_groups
from dupgate.scans.report import render_report, thumbnail_jpeg
from tests.browser import shown_in_browser
from tests.conftest import photo
from tests.images import resized_jpeg, with_caption
from tests.scans.conftest import DISTINCT, indexed, scan_image


@pytest.fixture(scope="module")
def scanned(embedder: Embedder) -> tuple[list[Group], dict[str, ScanImage], dict[str, bytes]]:
    """Three groups, keyed by names with characters HTML must escape, and their bytes."""
    files: dict[str, bytes] = {}
    for name in DISTINCT[:4]:
        original = photo(name)
        files[f"photos/{name} & co.jpg"] = original.read_bytes()
        if name != DISTINCT[3]:
            files[f"copies/<b>{name}</b> small.jpg"] = resized_jpeg(original, 0.5)
            files[f'copies/"{name}" sale.jpg'] = with_caption(original)
    images = {key: scan_image(key, data, embedder) for key, data in files.items()}
    listed = list(images.values())
    groups = find_groups(listed, indexed(listed), threshold=DEFAULT_NEAR, exact=DEFAULT_EXACT)
    assert len(groups) == 3
    return groups, images, files


def report_of(
    scanned: tuple[list[Group], dict[str, ScanImage], dict[str, bytes]],
) -> str:
    groups, images, files = scanned
    return render_report(
        groups,
        images,
        lambda key: thumbnail_jpeg(files[key]),
        captions={key: f"external id <{key}>" for key in images},
        summary="a scan of <three> groups",
    )


def test_the_report_escapes_every_name_and_needs_nothing_from_outside(
    scanned: tuple[list[Group], dict[str, ScanImage], dict[str, bytes]],
) -> None:
    html = report_of(scanned)

    assert "<b>n01" not in html and "&lt;b&gt;n01" in html
    assert "&amp; co.jpg" in html and "&lt;three&gt;" in html
    assert "&#34;n01" in html and '"n01' not in html
    assert "<script" not in html
    sources = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert sources and all(s.startswith("data:image/jpeg;base64,") for s in sources)
    assert html.count('class="group"') == 3
    assert html.count('<figure class="keeper">') == 3


def test_an_image_without_a_thumbnail_still_shows_its_place(
    scanned: tuple[list[Group], dict[str, ScanImage], dict[str, bytes]],
) -> None:
    groups, images, _ = scanned
    html = render_report(groups, images, lambda key: None)
    assert html.count("no preview") == sum(len(g.images) for g in groups)


def test_the_report_opens_in_chromium_with_every_group_and_thumbnail(
    scanned: tuple[list[Group], dict[str, ScanImage], dict[str, bytes]],
    browser: object,
    tmp_path: Path,
) -> None:
    groups, _, _ = scanned
    page = tmp_path / "report <&>.html"
    page.write_text(report_of(scanned), encoding="utf-8")

    seen = shown_in_browser(browser, page)

    assert seen["groups"] == len(groups)
    assert seen["images"] == sum(len(g.images) for g in groups)
    assert seen["loaded"] == seen["images"]
    assert seen["keepers"] == len(groups)
    assert sorted(seen["labels"]) == sorted(key for g in groups for key in g.images)
