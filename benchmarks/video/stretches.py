"""Stretches of one shot that share no moment: does dupgate tell them apart?

Issue 12 asks that "a separate recording of the same scene is a different video". The shared
clips hold no second recording of one scene (CHAIRS.md), so this measures the nearest thing
they do hold: stretches of one shot that share no frame, the same scene at other moments. Each
clip is cut into stretches of STRETCH seconds with GAP seconds between them, and so is a slow
camera pan over each of a few photos of the clothing catalog (fabric on one bed; the pan
moves the picture by a fraction of its height a second, so stretches near each other show
overlapping parts of it). Every stretch is analysed and matched against the other stretches
of its clip at the default thresholds, as a folder scan would. Writes STRETCHES.md.

    .venv/bin/python -m benchmarks.video.stretches

Splits as in the benchmark: the chair, the doorknob and the clothing pans are tuning data
(nothing is tuned on this yet); the pattern, the padded clip and chair-19 are held out.
"""

import io
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from pathlib import Path

import av
import numpy as np
from PIL import Image

from benchmarks.video.__main__ import HERE, SOURCES, VIDEOS, duration_of
from benchmarks.video.edits import Edit, make_copy
from dupgate.analysis import Embedder, load_embedder
from dupgate.analysis.video import InvalidVideo, VideoFeatures, analyze_video
from dupgate.matching.score import DEFAULT_EXACT, DEFAULT_NEAR
from dupgate.matching.video import frames_index, timeline_of, video_matches

STRETCH = 2.5  # seconds
GAP = 1.0  # seconds between one stretch's end and the next one's start
CLOTHING = VIDEOS.parent / "clothing" / "images"
PANS = 6  # photos panned over
PAN_SECONDS = 10.0  # the pan moves over the whole photo in this time: stretches at 0, 3.5, 7 s
PAN_SIDE = (640, 360)


@dataclass
class Pair:
    """Two stretches of one clip that dupgate matched."""

    query: float  # start of the stretch uploaded, s
    match: float  # start of the stretch it was matched to, s
    tier: str
    score: float
    relation: str
    shared: str  # how much of the picture their closest frames share, where it is known


Section = tuple[str, str, int, int, list[Pair]]  # split, clip, analysable, stretches, matches


def stretches(duration: float) -> list[float]:
    """Start times of the stretches that fit in the clip."""
    starts, at = [], 0.0
    while at + STRETCH <= duration + 1e-6:
        starts.append(round(at, 3))
        at += STRETCH + GAP
    return starts


def pan(photo: Path, start: float, seconds: float) -> bytes:
    """A camera moving down the photo (turned upright) at a steady speed, from `start` s."""
    picture = Image.open(photo).convert("RGB")
    if picture.width > picture.height:
        picture = picture.rotate(90, expand=True)
    window = picture.width * PAN_SIDE[1] // PAN_SIDE[0]
    travel = picture.height - window
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as target:
        encoder = target.add_stream("libx264", rate=Fraction(30, 1))
        encoder.width, encoder.height = PAN_SIDE
        encoder.pix_fmt = "yuv420p"
        encoder.options = {"crf": "23", "preset": "veryfast"}
        for n in range(int(seconds * 30)):
            top = round(travel * (start + n / 30) / PAN_SECONDS)
            crop = picture.crop((0, top, picture.width, top + window)).resize(PAN_SIDE)
            frame = av.VideoFrame.from_ndarray(np.asarray(crop), format="rgb24")
            frame.pts, frame.time_base = n, Fraction(1, 30)
            target.mux(encoder.encode(frame))
        target.mux(encoder.encode(None))
    return out.getvalue()


def pan_shared(photo: Path, a: float, b: float) -> str:
    """The share of the picture that two pan stretches' nearest frames both show, and their
    first frames."""
    picture = Image.open(photo)
    width, height = sorted(picture.size)
    window = width * PAN_SIDE[1] / PAN_SIDE[0]
    speed = (height - window) / PAN_SECONDS  # pixels a second

    def shared(seconds: float) -> str:
        return f"{max(0.0, 1 - seconds * speed / window):.0%}"

    return f"{shared(abs(b - a) - STRETCH)} / {shared(abs(b - a))}"


def matched_pairs(
    clips: dict[float, bytes], embedder: Embedder, shared: Callable[[float, float], str]
) -> tuple[list[Pair], int]:
    """The pairs of stretches matched, each way, and how many stretches were analysable."""
    videos: dict[str, VideoFeatures] = {}
    for start, data in clips.items():
        try:
            videos[str(start)] = analyze_video(data, embedder)
        except InvalidVideo:
            continue  # a stretch that is all black or flat is refused, as an upload would be
    index = frames_index(videos)
    timelines = {key: timeline_of(video) for key, video in videos.items()}
    pairs = []
    for key, video in videos.items():
        for m in video_matches(index, video, timelines.get, DEFAULT_EXACT, DEFAULT_NEAR):
            if m.image_id != key:
                a, b = float(key), float(m.image_id)
                pairs.append(Pair(a, b, m.tier.value, m.score, m.relation or "", shared(a, b)))
    return pairs, len(videos)


def main() -> None:
    began = time.monotonic()
    embedder = load_embedder("onnx")
    sections: list[Section] = []
    for name, (split, _) in SOURCES.items():
        path = VIDEOS / f"{name}.mp4"
        starts = stretches(duration_of(path))
        clips = {
            s: make_copy(path, Edit("stretch", "unique", start=s, seconds=STRETCH, crf=23))
            for s in starts
        }
        pairs, kept = matched_pairs(clips, embedder, lambda a, b: "?")
        sections.append((split, name, kept, len(starts), pairs))
        print(f"{name}: {len(starts)} stretches, {len(pairs)} matches", flush=True)
    photos = sorted(CLOTHING.glob("*.jpg"))
    for photo in random.Random(12).sample(photos, PANS):
        starts = stretches(PAN_SECONDS)
        clips = {s: pan(photo, s, STRETCH) for s in starts}
        pairs, kept = matched_pairs(clips, embedder, partial(pan_shared, photo))
        sections.append(("tuning", f"pan over clothing/{photo.name[:8]}", kept, len(starts), pairs))
        print(f"pan {photo.name}: {len(starts)} stretches, {len(pairs)} matches", flush=True)
    text = render(sections, time.monotonic() - began)
    (HERE / "STRETCHES.md").write_text(text)
    print(text)


def render(sections: list[Section], elapsed: float) -> str:
    lines = [
        "# Stretches of one shot that share no moment",
        "",
        f"`python -m benchmarks.video.stretches`, {elapsed / 60:.1f} min. Each clip cut into "
        f"stretches of {STRETCH:g} s with {GAP:g} s between them (re-encoded, crf 23), and a "
        f"slow pan down each of {PANS} clothing-catalog photos ({PAN_SECONDS:g} s from top "
        "to bottom) cut the same way. Every stretch is matched against the other stretches of "
        "its clip at the default thresholds (exact 0.95, near 0.4); no two of them share a "
        "frame. A match here is two moments of one shot taken for copies of each other. "
        "Nothing was tuned on this: the thresholds are the benchmark's.",
        "",
        "| split | clip | stretches (analysable) | ordered pairs | matched |",
        "|---|---|---|---|---|",
    ]
    details = []
    for split, name, kept, total, pairs in sections:
        ordered = kept * (kept - 1)
        lines.append(f"| {split} | {name} | {total} ({kept}) | {ordered} | {len(pairs)} |")
        for p in pairs:
            details.append(
                f"| {name} | {p.query:g} s | {p.match:g} s | "
                f"{abs(p.match - p.query) - STRETCH:g} s | {p.tier} {p.score:.2f} | "
                f"{p.relation} | {p.shared} |"
            )
    lines += [
        "",
        "Each match (the stretch uploaded, the one it matched, the time between them, the "
        "decision, and for the pans the share of the picture that both show: at their nearest "
        "frames / at their first frames; ? where unknown):",
        "",
        "| clip | stretch from | matched stretch from | apart | decision | relation | "
        "picture shared |",
        "|---|---|---|---|---|---|---|",
        *(details or ["| – | – | – | – | – | – | – |"]),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
