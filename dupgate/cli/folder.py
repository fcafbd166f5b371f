"""`dupgate scan DIR`: the duplicates inside a local folder, with no server, Redis or database.

Every file whose first bytes announce an image is read and hashed; each distinct content is
analysed once, on every core (one process per core, one ONNX thread each: on 2 cores that beats
one process with two threads by ~1.6x). The features go into an in-memory index and the scan
engine groups them; the result is written as JSON and as an HTML report. Files whose first
bytes announce a video container are analysed once each too and grouped among themselves by
the video matcher of uploads (`video_groups` in the JSON; in the HTML report after the images,
each video a labelled box with its length and size).
"""

import hashlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from tqdm import tqdm

from dupgate.analysis import Features, InvalidImage, analyze, load_embedder
from dupgate.analysis.formats import UnsupportedFile, sniff, sniff_video
from dupgate.analysis.video import VideoFeatures, analyze_video
from dupgate.matching.indexes import new_index
from dupgate.scans.groups import Group, ScanImage, find_groups
from dupgate.scans.report import ReportVideo, VideoReportGroup, render_report, thumbnail_jpeg
from dupgate.scans.videos import VideoGroup, group_videos

_HEAD_BYTES = 64


_READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class Skipped:
    """A file that looked like an image but could not be analysed, and why."""

    path: str
    reason: str  # machine-readable: unreadable, truncated, not_an_image, too_large, ...
    message: str


@dataclass(frozen=True)
class FolderScan:
    """What a folder scan found."""

    root: str
    images: list[ScanImage]  # keyed by path, as found under root
    skipped: list[Skipped]
    not_images: int  # files whose first bytes are no image format, left alone
    groups: list[Group]
    threshold: float
    exact: float
    videos: dict[str, VideoFeatures] = field(default_factory=dict)  # by path
    video_groups: list[VideoGroup] = field(default_factory=list)


@dataclass(frozen=True)
class _File:
    path: str
    sha256: str
    size: int
    modified: float


def scan_folder(
    root: Path, *, threshold: float, exact: float, workers: int | None = None, progress: bool = True
) -> FolderScan:
    """Analyse every image under `root` (recursively) and group the duplicates."""
    candidates, not_images, skipped = image_files(root)
    clips = video_files(root)
    not_images -= len(clips)
    videos, failed_videos = _analyse_videos(clips, progress)
    skipped += failed_videos
    video_groups = group_videos(videos, threshold=threshold, exact=exact)
    files, unreadable = _read(candidates, progress)
    skipped += unreadable
    features, failed = _analyse(files, workers or os.cpu_count() or 1, progress)
    skipped += failed
    images = [
        ScanImage(f.path, features[f.sha256], f.size, f.modified)
        for f in files
        if f.sha256 in features
    ]
    index = new_index()
    index.add_many([(label, image.key, image.features) for label, image in enumerate(images)])
    with _VerifyingBar(progress) as bar:
        groups = find_groups(images, index, threshold=threshold, exact=exact, verifying=bar.update)
    skipped.sort(key=lambda s: s.path)
    return FolderScan(
        str(root), images, skipped, not_images, groups, threshold, exact, videos, video_groups
    )


def video_files(root: Path) -> list[Path]:
    """The files whose first bytes announce a video container (and no image)."""
    found = []
    for path in _walk(root):
        try:
            with path.open("rb") as f:
                head = f.read(_HEAD_BYTES)
            sniff_video(head)
        except (UnsupportedFile, OSError):
            continue
        found.append(path)
    return found


def _analyse_videos(
    paths: Sequence[Path], progress: bool
) -> tuple[dict[str, VideoFeatures], list[Skipped]]:
    """Each video analysed once (in this process: a video's frames are embedded in batches)."""
    videos: dict[str, VideoFeatures] = {}
    skipped = []
    embedder = load_embedder("onnx")
    for path in tqdm(
        paths, desc="analysing videos", unit="video", file=sys.stderr, disable=not progress
    ):
        try:
            videos[str(path)] = analyze_video(path.read_bytes(), embedder)
        except InvalidImage as e:
            skipped.append(Skipped(str(path), e.reason, e.message))
        except OSError as e:
            skipped.append(Skipped(str(path), "unreadable", e.strerror or str(e)))
    return videos, skipped


class _VerifyingBar:
    """A progress bar over the candidate pairs being verified, shown once their number is known."""

    def __init__(self, shown: bool) -> None:
        self.shown = shown
        self.bar: tqdm | None = None

    def update(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = tqdm(
                total=total, desc="verifying", unit="pair", file=sys.stderr, disable=not self.shown
            )
        self.bar.update(done - self.bar.n)

    def __enter__(self) -> "_VerifyingBar":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


def _walk(root: Path) -> Iterator[Path]:
    """Every file under root, in a stable order (directories and names sorted)."""
    for directory, subdirectories, names in os.walk(root):
        subdirectories.sort()
        for name in sorted(names):
            yield Path(directory) / name


def image_files(root: Path) -> tuple[list[Path], int, list[Skipped]]:
    """The files whose first bytes announce an image; how many others; which could not be read."""
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a folder")
    images, skipped, others = [], [], 0
    for path in _walk(root):
        try:
            with path.open("rb") as f:
                head = f.read(_HEAD_BYTES)
            sniff(head)
        except UnsupportedFile:
            others += 1
        except OSError as e:
            skipped.append(Skipped(str(path), "unreadable", e.strerror or str(e)))
        else:
            images.append(path)
    return images, others, skipped


def _read(paths: Sequence[Path], progress: bool) -> tuple[list[_File], list[Skipped]]:
    """SHA-256, size and modification time of each file (identical files are analysed once)."""
    files, skipped = [], []
    for path in tqdm(paths, desc="reading", unit="file", file=sys.stderr, disable=not progress):
        digest = hashlib.sha256()
        try:
            with path.open("rb") as f:
                while chunk := f.read(_READ_CHUNK):
                    digest.update(chunk)
            stat = path.stat()
        except OSError as e:
            skipped.append(Skipped(str(path), "unreadable", e.strerror or str(e)))
            continue
        files.append(_File(str(path), digest.hexdigest(), stat.st_size, stat.st_mtime))
    return files, skipped


def _analyse(
    files: Sequence[_File], workers: int, progress: bool
) -> tuple[dict[str, Features], list[Skipped]]:
    """Features of each distinct content, on `workers` processes; the files that failed."""
    first: dict[str, _File] = {}
    for f in files:
        first.setdefault(f.sha256, f)
    todo = list(first.values())
    features: dict[str, Features] = {}
    failed_sha: dict[str, tuple[str, str]] = {}
    bar = tqdm(
        total=len(todo), desc="analysing", unit="image", file=sys.stderr, disable=not progress
    )
    with bar:
        for sha256, result in _analysed(todo, workers):
            if isinstance(result, Features):
                features[sha256] = result
            else:
                failed_sha[sha256] = result
            bar.update(1)
    failed = [Skipped(f.path, *failed_sha[f.sha256]) for f in files if f.sha256 in failed_sha]
    return features, failed


def _analysed(
    todo: Sequence[_File], workers: int
) -> Iterator[tuple[str, Features | tuple[str, str]]]:
    paths = [f.path for f in todo]
    if workers <= 1 or len(todo) < 2:
        _start_worker()
        yield from zip((f.sha256 for f in todo), map(_analyse_file, paths), strict=True)
        return
    # spawn, not fork: the parent may hold threads (tqdm's monitor), and a worker needs only
    # dupgate and its own ONNX session.
    with ProcessPoolExecutor(
        max_workers=min(workers, len(todo)),
        mp_context=get_context("spawn"),
        initializer=_start_worker,
    ) as pool:
        yield from zip(
            (f.sha256 for f in todo), pool.map(_analyse_file, paths, chunksize=4), strict=True
        )


def _start_worker() -> None:
    load_embedder("onnx", threads=1)  # cached per process, so each loads the model once


def _analyse_file(path: str) -> Features | tuple[str, str]:
    """The file's features, or (reason, message) when it cannot be analysed; never raises."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        return analyze(data, load_embedder("onnx", threads=1))
    except InvalidImage as e:
        return e.reason, e.message
    except OSError as e:
        return "unreadable", e.strerror or str(e)
    except Exception as e:  # noqa: BLE001 - one odd file must not end a scan of thousands
        return "analysis_failed", f"{type(e).__name__}: {e}"


def scan_json(scan: FolderScan) -> dict[str, Any]:
    """The JSON document of a scan: groups (keeper, images with their best tier and score)."""
    by_key = {image.key: image for image in scan.images}
    groups = []
    for group in scan.groups:
        images = []
        best_pairs = group.best_pairs()
        for key in group.images:
            best = best_pairs[key]
            f = by_key[key].features
            images.append(
                {
                    "path": key,
                    "tier": best.tier,
                    "score": best.score,
                    "width": f.width,
                    "height": f.height,
                    "bytes": by_key[key].size,
                    "sha256": f.sha256,
                }
            )
        groups.append(
            {
                "keeper": group.keeper,
                "keeper_rule": group.keeper_rule,
                "images": images,
                "pairs": [
                    {"a": p.a, "b": p.b, "score": p.score, "tier": p.tier} for p in group.pairs
                ],
            }
        )
    video_groups = [
        {
            "keeper": group.keeper,
            "keeper_rule": group.keeper_rule,
            "videos": [
                {
                    "path": key,
                    "tier": group.best[key].tier if key in group.best else None,
                    "score": group.best[key].score if key in group.best else None,
                    "relation": group.best[key].relation if key in group.best else None,
                    "matches": group.best[key].image_id if key in group.best else None,
                    "offset_seconds": group.best[key].offset_seconds if key in group.best else None,
                    "duration": scan.videos[key].duration,
                    "width": scan.videos[key].width,
                    "height": scan.videos[key].height,
                    "sha256": scan.videos[key].sha256,
                }
                for key in group.videos
            ],
        }
        for group in scan.video_groups
    ]
    return {
        "root": scan.root,
        "threshold": scan.threshold,
        "exact": scan.exact,
        "images": len(scan.images),
        "groups": groups,
        "videos": len(scan.videos),
        "video_groups": video_groups,
        "skipped": [
            {"path": s.path, "reason": s.reason, "message": s.message} for s in scan.skipped
        ],
        "not_images": scan.not_images,
    }


def report_html(scan: FolderScan) -> str:
    """The self-contained HTML report of a folder scan, thumbnails made from the files."""
    by_key = {image.key: image for image in scan.images}
    in_groups = sum(len(g.images) for g in scan.groups)
    summary = (
        f"{scan.root}: {len(scan.images)} images, {len(scan.groups)} groups of duplicates "
        f"({in_groups} images), threshold {scan.threshold:.2f} (exact from {scan.exact:.2f}), "
        f"{len(scan.skipped)} files skipped."
    )
    if scan.videos:
        summary += (
            f" {len(scan.videos)} videos, {len(scan.video_groups)} groups of duplicate videos "
            f"({sum(len(g.videos) for g in scan.video_groups)} videos)."
        )
    return render_report(
        [*scan.groups, *(_video_report_group(scan, group) for group in scan.video_groups)],
        by_key,
        _file_thumbnail,
        title="dupgate scan",
        summary=summary,
        skipped=[(s.path, f"{s.reason}: {s.message}") for s in scan.skipped],
    )


def _video_report_group(scan: FolderScan, group: VideoGroup) -> VideoReportGroup:
    pairs = group.pairs()
    shown = []
    for path in group.videos:
        video = scan.videos[path]
        best = max((p for p in pairs if path in (p["a"], p["b"])), key=lambda p: p["score"])
        try:
            size = Path(path).stat().st_size
        except OSError:
            size = 0
        shown.append(
            ReportVideo(
                path,
                None,
                video.duration,
                video.width,
                video.height,
                size,
                best["score"],
                best["tier"],
                video.preview,
            )
        )
    return VideoReportGroup(group.keeper, group.keeper_rule, tuple(shown), tuple(pairs))


def _file_thumbnail(path: str) -> bytes | None:
    try:
        return thumbnail_jpeg(Path(path).read_bytes())
    except (OSError, InvalidImage):
        return None


def run_scan(
    root: Path, *, threshold: float, exact: float, report: Path | None, json_path: Path | None
) -> str:
    """Scan, write the files asked for, and return the summary to print."""
    scan = scan_folder(root, threshold=threshold, exact=exact)
    lines = [
        f"{len(scan.images)} images in {root}, {len(scan.groups)} groups of duplicates "
        f"({sum(len(g.images) for g in scan.groups)} images), {len(scan.skipped)} skipped, "
        f"{scan.not_images} other files left alone"
    ]
    if scan.videos:
        lines.append(
            f"{len(scan.videos)} videos, {len(scan.video_groups)} groups of duplicate videos "
            f"({sum(len(g.videos) for g in scan.video_groups)} videos)"
        )
    for s in scan.skipped:
        lines.append(f"  skipped {s.path}: {s.reason}: {s.message}")
    if json_path is not None:
        json_path.write_text(json.dumps(scan_json(scan), indent=2, ensure_ascii=False))
        lines.append(f"JSON: {json_path}")
    if report is not None:
        report.write_text(report_html(scan), encoding="utf-8")
        lines.append(f"report: {report}")
    if json_path is None and report is None:
        for number, group in enumerate(scan.groups, 1):
            lines.append(f"group {number}: keep {group.keeper} ({group.keeper_rule})")
            best = group.best_pairs()
            lines.extend(
                f"  {key}  {best[key].tier} {best[key].score:.3f}" for key in group.images[1:]
            )
        for number, video_group in enumerate(scan.video_groups, 1):
            lines.append(
                f"video group {number}: keep {video_group.keeper} ({video_group.keeper_rule})"
            )
            for key in video_group.videos[1:]:
                m = video_group.best.get(key)
                lines.append(f"  {key}  {m.tier} {m.score:.3f} {m.relation}" if m else f"  {key}")
        lines.append("(--json FILE and --report FILE write them to files)")
    return "\n".join(lines)
