"""Video clips for tests: the shared TMK sample clips, and copies made from them with PyAV, each
by a named transformation (trim, re-encode, downscale, logo, ...)."""

import io
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import numpy as np
import pytest

from tests.conftest import DATASETS

if TYPE_CHECKING:
    from tests.servers import Server

VIDEOS = DATASETS / "videos"
CLOTHING = DATASETS / "clothing" / "images"
# Two photos that one contributor of the clothing catalog took of the same black trousers on the
# same red sheet, laid out again in between: the shared data's separate takes of one scene.
RESHOOT = ("03383314-4e34-4604-8ba0-f5d75371204f", "d7b371d1-0d06-4c06-9e51-70054e8dc72d")


def clip(name: str) -> Path:
    """A shared sample clip (../shared/datasets/videos), or a skip saying it is missing."""
    path = VIDEOS / f"{name}.mp4"
    if not path.exists():
        pytest.skip(f"the shared clip {path} is absent (../shared/datasets/videos)")
    return path


def clothing_photo(name: str) -> Path:
    """A photo of the shared clothing catalog, or a skip saying it is missing."""
    path = CLOTHING / f"{name}.jpg"
    if not path.exists():
        pytest.skip(f"the shared photo {path} is absent (../shared/datasets/clothing)")
    return path


def filmed(photo: Path, seconds: float = 6.0) -> bytes:
    """The photo filmed by a camera that zooms in and drifts across it (360x480, 30 frames a
    second, H.264 in MP4): a recording of the scene the photo shows."""
    from PIL import Image

    picture = Image.open(photo).convert("RGB")
    width, height = picture.size
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as target:
        encoder = target.add_stream("libx264", rate=Fraction(30, 1))
        encoder.width, encoder.height = 360, 480
        encoder.pix_fmt = "yuv420p"
        encoder.options = {"crf": "23", "preset": "veryfast"}
        count = int(seconds * 30)
        for n in range(count):
            done = n / (count - 1)
            side = 0.95 - 0.25 * done  # of the photo's width and height: zooming in
            left = width * (1 - side) * (0.2 + 0.6 * done)
            top = height * (1 - side) * (0.7 - 0.4 * done)
            box = (left, top, left + width * side, top + height * side)
            shot = picture.resize((360, 480), Image.Resampling.BILINEAR, box=box)
            frame = av.VideoFrame.from_ndarray(np.asarray(shot), format="rgb24")
            frame.pts, frame.time_base = n, Fraction(1, 30)
            target.mux(encoder.encode(frame))
        target.mux(encoder.encode(None))
    return out.getvalue()


Edit = Callable[[np.ndarray], np.ndarray]


def transcode(
    path: Path,
    *,
    start: float = 0.0,
    seconds: float = 8.0,
    scale: float = 0.5,
    crf: int = 28,
    edit: Edit | None = None,
    speed: float = 1.0,
) -> bytes:
    """The clip from `start` for `seconds` (of output), H.264 in MP4, scaled (by default to
    half: small files keep the test servers' stores small), edited frame by frame and sped up;
    `crf` is the quality (higher is worse)."""
    out = io.BytesIO()
    with av.open(str(path)) as source, av.open(out, mode="w", format="mp4") as target:
        stream = source.streams.video[0]
        rate = Fraction(30, 1)
        encoder = target.add_stream("libx264", rate=rate)
        width = int(stream.codec_context.width * scale) // 2 * 2
        height = int(stream.codec_context.height * scale) // 2 * 2
        encoder.width, encoder.height = width, height
        encoder.pix_fmt = "yuv420p"
        encoder.options = {"crf": str(crf), "preset": "ultrafast"}
        written = 0
        for frame in source.decode(stream):
            if frame.time is None or frame.time < start:
                continue
            # Output frame n shows the source at start + n / 30 * speed.
            while start + written / 30 * speed <= frame.time + 1e-6 and written / 30 < seconds:
                pixels = frame.to_ndarray(format="rgb24", width=width, height=height)
                if edit is not None:
                    pixels = edit(pixels)
                encoded = av.VideoFrame.from_ndarray(
                    np.ascontiguousarray(pixels, dtype=np.uint8), format="rgb24"
                )
                encoded.pts = written
                encoded.time_base = 1 / rate
                target.mux(encoder.encode(encoded))
                written += 1
            if written / 30 >= seconds:
                break
        target.mux(encoder.encode(None))
    return out.getvalue()


def logo(pixels: np.ndarray) -> np.ndarray:
    """A white square with a dark mark in the top right corner (a tenth of the width)."""
    edited = pixels.copy()
    h, w = edited.shape[:2]
    side = max(8, w // 10)
    edited[h // 20 : h // 20 + side, w - side - w // 20 : w - w // 20] = 255
    edited[
        h // 20 + side // 4 : h // 20 + 3 * side // 4,
        w - 3 * side // 4 - w // 20 : w - side // 4 - w // 20,
    ] = 30
    return edited


def frame_jpeg(content: bytes, at: float) -> bytes:
    """The frame shown at `at` seconds, as a JPEG (a still someone took from the video)."""
    from PIL import Image  # noqa: F401  (to_image needs Pillow)

    with av.open(io.BytesIO(content), mode="r") as container:
        for frame in container.decode(video=0):
            if frame.time is not None and frame.time >= at:
                out = io.BytesIO()
                frame.to_image().save(out, "JPEG", quality=90)
                return out.getvalue()
    raise ValueError(f"no frame at {at} s")


def audio_only() -> bytes:
    """Two seconds of a tone as AAC in MP4: a file with sound and no picture."""
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as target:
        stream = target.add_stream("aac", rate=44100)
        t = np.arange(44100 * 2) / 44100
        samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for start in range(0, len(samples), 1024):
            chunk = samples[start : start + 1024].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate = 44100
            frame.pts = start
            target.mux(stream.encode(frame))
        target.mux(stream.encode(None))
    return out.getvalue()


def video_decision(server: "Server", collection: str, content: bytes, **fields: str) -> Any:
    """Post a video to a running server and wait for its decision."""
    r = server.client.post(
        f"/v1/collections/{collection}/videos",
        files={"file": ("clip.mp4", io.BytesIO(content))},
        data=fields,
    )
    assert r.status_code == 202, r.text
    view = server.decided(r.json()["upload_id"])
    assert view["status"] == "decided", view
    return view["decision"]
