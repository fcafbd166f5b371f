"""`dupgate scan DIR` as a person runs it: a real folder, a subprocess, a progress bar."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import ImageOps

from tests.conftest import PHOTOS, ROOT, photo
from tests.images import resized_jpeg, with_caption
from tests.scans.conftest import DISTINCT, jpeg_of, rgb


def dupgate_scan(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUPGATE_")}
    return subprocess.run(
        [sys.executable, "-m", "dupgate.cli", "scan", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Six originals at the top, copies of three of them in sub-folders, and some other files."""
    root = tmp_path / "holiday photos"
    (root / "edited" / "deeper").mkdir(parents=True)
    for name in DISTINCT[:6]:
        shutil.copy(photo(name), root / f"{name}.jpg")
    tench, goldfish, shark = (photo(name) for name in DISTINCT[:3])
    (root / "edited" / "tench small.jpg").write_bytes(resized_jpeg(tench, 0.5))
    (root / "edited" / "deeper" / "tench <sale> & more.jpg").write_bytes(with_caption(tench))
    (root / "edited" / "goldfish mirrored.jpg").write_bytes(jpeg_of(ImageOps.mirror(rgb(goldfish))))
    shutil.copy(shark, root / "edited" / "shark again.jpg")
    (root / "edited" / "cut short.jpg").write_bytes(tench.read_bytes()[:5000])
    (root / "notes.txt").write_text("not an image")
    return root


def groups_of(document: dict[str, Any]) -> set[frozenset[str]]:
    return {frozenset(image["path"] for image in g["images"]) for g in document["groups"]}


def test_scan_groups_copies_with_their_original_and_writes_json_and_report(
    folder: Path, tmp_path: Path
) -> None:
    out_json, out_html = tmp_path / "groups.json", tmp_path / "report.html"

    result = dupgate_scan(str(folder), "--json", str(out_json), "--report", str(out_html))

    assert result.returncode == 0, result.stderr
    assert "analysing" in result.stderr and "100%" in result.stderr  # the progress bars
    assert "verifying" in result.stderr
    document = json.loads(out_json.read_text())
    tench, goldfish, shark = (str(folder / f"{name}.jpg") for name in DISTINCT[:3])
    edited = folder / "edited"
    assert groups_of(document) == {
        frozenset(
            {
                tench,
                str(edited / "tench small.jpg"),
                str(edited / "deeper" / "tench <sale> & more.jpg"),
            }
        ),
        frozenset({goldfish, str(edited / "goldfish mirrored.jpg")}),
        frozenset({shark, str(edited / "shark again.jpg")}),
    }
    by_keeper = {g["keeper"]: g for g in document["groups"]}
    assert set(by_keeper) == {tench, goldfish, shark}  # the originals are the largest
    assert by_keeper[tench]["keeper_rule"].startswith(("largest", "least compressed"))
    for group in document["groups"]:
        assert group["images"][0]["path"] == group["keeper"]
        for image in group["images"]:
            assert image["tier"] in ("exact", "near") and 0.4 <= image["score"] <= 1
        assert all(p["score"] >= 0.4 for p in group["pairs"])
    tiers = {image["path"]: image["tier"] for g in document["groups"] for image in g["images"]}
    assert tiers[str(edited / "tench small.jpg")] == "exact"
    assert tiers[str(edited / "goldfish mirrored.jpg")] == "near"
    assert document["skipped"] == [
        {
            "path": str(edited / "cut short.jpg"),
            "reason": "truncated",
            "message": "the image file is cut short; upload the complete file",
        }
    ]
    assert document["images"] == 10 and document["not_images"] == 1
    html = out_html.read_text()
    assert html.count('class="group"') == 3 and "tench &lt;sale&gt; &amp; more.jpg" in html
    assert "3 groups" in result.stdout and str(out_json) in result.stdout


def test_scan_without_output_files_prints_the_groups(folder: Path) -> None:
    result = dupgate_scan(str(folder))

    assert result.returncode == 0, result.stderr
    assert f"keep {folder / DISTINCT[0]}.jpg" in result.stdout
    assert "edited/tench small.jpg  exact" in result.stdout


def test_scan_of_a_missing_folder_says_so(tmp_path: Path) -> None:
    result = dupgate_scan(str(tmp_path / "nowhere"))
    assert result.returncode == 2 and "is not a folder" in result.stderr


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_scan_of_a_thousand_distinct_photos_finds_no_group(tmp_path: Path) -> None:
    """The whole ImageNet sample: 1,000 photos, no two duplicates (about a minute)."""
    if not PHOTOS.is_dir():
        pytest.skip(f"the shared dataset {PHOTOS} is not here")
    out_json = tmp_path / "groups.json"

    result = dupgate_scan(str(PHOTOS), "--json", str(out_json), timeout=900)

    assert result.returncode == 0, result.stderr
    assert "analysing" in result.stderr and "1000/1000" in result.stderr
    document = json.loads(out_json.read_text())
    assert document["images"] == 1000 and document["skipped"] == []
    assert document["groups"] == []


def test_a_folder_scan_groups_videos_as_it_groups_images(tmp_path: Path) -> None:
    from tests.videos import clip, logo, transcode

    root = tmp_path / "clips"
    root.mkdir()
    original = clip("chair-orig-22-sd-bar")
    (root / "chair.mp4").write_bytes(transcode(original, seconds=6))
    (root / "chair with logo.mp4").write_bytes(transcode(original, seconds=6, edit=logo))
    # Cut half a second off the one-second grid: found by the frames' prints.
    (root / "chair cut.mp4").write_bytes(transcode(original, start=2.5, seconds=3))
    (root / "doorknob.mp4").write_bytes(transcode(clip("doorknob-hd-no-bar"), seconds=4))
    (root / "not a video.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 but cut off here")

    report = tmp_path / "report.html"
    done = dupgate_scan(str(root), "--json", str(tmp_path / "out.json"), "--report", str(report))

    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["videos"] == 4
    [group] = result["video_groups"]
    paths = sorted(Path(v["path"]).name for v in group["videos"])
    assert paths == ["chair cut.mp4", "chair with logo.mp4", "chair.mp4"]
    assert {v["tier"] for v in group["videos"] if v["path"] != group["keeper"]} == {"near"}
    [cut] = [v for v in group["videos"] if v["path"].endswith("chair cut.mp4")]
    assert cut["relation"] == "upload_within_match" and abs(cut["offset_seconds"] - 2.5) <= 0.3
    assert [Path(s["path"]).name for s in result["skipped"]] == ["not a video.mp4"]
    # The report shows the group after the images', each video its first frame and length.
    html = report.read_text(encoding="utf-8")
    assert html.count('class="group videos"') == 1 and html.count('<div class="still">') == 3
    assert "&#9654; 6.0 s" in html
    assert "4 videos, 1 groups of duplicate videos" in html
