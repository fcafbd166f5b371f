"""Copies of a clip made with PyAV, each by a named transformation."""

import io
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

FrameEdit = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Edit:
    """A named way of copying a clip, and the tier a copy should be matched at."""

    name: str
    expected: str  # "exact" or "near"
    start: float = 0.0
    seconds: float | None = None  # of output; None: to the end
    drop_end: float = 0.0  # seconds left out at the end
    scale: float = 1.0
    crf: int = 20
    speed: float = 1.0
    frame: FrameEdit | None = None
    min_source_seconds: float = 0.0  # only for sources at least this long


def crop(pixels: np.ndarray) -> np.ndarray:
    """The central 80% of each side."""
    h, w = pixels.shape[:2]
    return pixels[h // 10 : h - h // 10, w // 10 : w - w // 10]


def letterbox(pixels: np.ndarray) -> np.ndarray:
    """Black bars that make the picture 16:9 landscape (or 9:16 portrait) a third bigger."""
    h, w = pixels.shape[:2]
    out = np.zeros((h + h // 3 if h >= w else h, w + w // 3 if w > h else w, 3), np.uint8)
    y, x = (out.shape[0] - h) // 2, (out.shape[1] - w) // 2
    out[y : y + h, x : x + w] = pixels
    return out


def flip(pixels: np.ndarray) -> np.ndarray:
    return pixels[:, ::-1]


def logo(pixels: np.ndarray) -> np.ndarray:
    """A white square with a dark mark in the top right corner (a tenth of the width)."""
    out = pixels.copy()
    h, w = out.shape[:2]
    side = max(8, w // 10)
    top, right = h // 20, w - w // 20
    out[top : top + side, right - side : right] = 255
    out[top + side // 4 : top + 3 * side // 4, right - 3 * side // 4 : right - side // 4] = 30
    return out


def edits(cut_start: float) -> list[Edit]:
    """The edits made of every source clip; `cut_start` places the 6 s cut of longer clips."""
    return [
        Edit("re-encode at low bitrate (crf 38)", "exact", crf=38),
        Edit("downscale to half", "exact", scale=0.5),
        Edit("crop the central 80%", "near", frame=crop),
        Edit("letterbox (black bars)", "near", frame=letterbox),
        Edit("trim 1.5 s off the start, 1 s off the end", "near", start=1.5, drop_end=1.0),
        Edit("speed x1.25", "near", speed=1.25),
        Edit("mirror (horizontal flip)", "near", frame=flip),
        Edit("logo in the corner", "near", frame=logo),
        Edit(
            f"6 s cut from {cut_start:g} s of a longer clip",
            "near",
            start=cut_start,
            seconds=6.0,
            min_source_seconds=15.0,
        ),
    ]


def make_copy(path: Path, edit: Edit) -> bytes:
    """The copy of the clip that the edit describes, as H.264 in MP4 (30 frames a second)."""
    out = io.BytesIO()
    with av.open(str(path), mode="r") as source, av.open(out, mode="w", format="mp4") as target:
        stream = source.streams.video[0]
        duration = (
            float(stream.duration * stream.time_base)
            if stream.duration and stream.time_base
            else (source.duration or 0) / av.time_base
        )
        end = (
            duration - edit.drop_end
            if edit.seconds is None
            else edit.start + edit.seconds * edit.speed
        )
        rate = Fraction(30, 1)
        encoder = target.add_stream("libx264", rate=rate)
        width = int(stream.codec_context.width * edit.scale) // 2 * 2
        height = int(stream.codec_context.height * edit.scale) // 2 * 2
        sample = np.zeros((height, width, 3), np.uint8)
        shape = edit.frame(sample).shape if edit.frame else sample.shape
        encoder.width, encoder.height = shape[1] // 2 * 2, shape[0] // 2 * 2
        encoder.pix_fmt = "yuv420p"
        encoder.options = {"crf": str(edit.crf), "preset": "veryfast"}
        written = 0
        for frame in source.decode(stream):
            if frame.time is None or frame.time < edit.start:
                continue
            if frame.time > end:
                break
            while edit.start + written / 30 * edit.speed <= frame.time + 1e-6:
                pixels = frame.to_ndarray(format="rgb24", width=width, height=height)
                if edit.frame is not None:
                    pixels = edit.frame(pixels)
                pixels = np.ascontiguousarray(pixels[: encoder.height, : encoder.width], np.uint8)
                encoded = av.VideoFrame.from_ndarray(pixels, format="rgb24")
                encoded.pts = written
                encoded.time_base = 1 / rate
                target.mux(encoder.encode(encoded))
                written += 1
        target.mux(encoder.encode(None))
    return out.getvalue()


def minute_720p(paths: list[Path], seconds: float = 60.0) -> bytes:
    """A minute of 1280x720 video at 30 frames a second (H.264, crf 23): the clips scaled to
    720p and joined, over and over. What the analysis-time target is stated for."""
    out = io.BytesIO()
    rate = Fraction(30, 1)
    total = round(seconds * 30)
    with av.open(out, mode="w", format="mp4") as target:
        encoder = target.add_stream("libx264", rate=rate)
        encoder.width, encoder.height, encoder.pix_fmt = 1280, 720, "yuv420p"
        encoder.options = {"crf": "23", "preset": "veryfast"}
        written = 0
        while written < total:
            for path in paths:
                with av.open(str(path), mode="r") as source:
                    for frame in source.decode(video=0):
                        if written >= total:
                            break
                        pixels = frame.to_ndarray(format="rgb24", width=1280, height=720)
                        encoded = av.VideoFrame.from_ndarray(pixels, format="rgb24")
                        encoded.pts, encoded.time_base = written, 1 / rate
                        target.mux(encoder.encode(encoded))
                        written += 1
        target.mux(encoder.encode(None))
    return out.getvalue()
