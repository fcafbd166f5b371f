"""A video's features, computed once: frames taken on a fixed grid of times (the black, flat
and repeated ones dropped), each kept frame analysed as an image is.

A grid of times rather than the key frames: two encodes of one video put their key frames in
different places, but a grid puts the frames of a re-encoded copy at the same moments as the
original's, so those frames can be compared as exact copies. The frames' image features are
stored like an image's (by a SHA-256 derived from the video's and the frame's number) and
indexed under the kind "frames", so both index backends hold them, and an image can be found
to be a frame of a video.

What it costs (benchmarks/video): decoding is most of it, so only what the grid needs is
decoded. Frames that no other frame refers to are skipped except just after a sample time, so
every sample is the frame a full decode would give. Bars do not
move, so the content box is found once for the whole video rather than in every frame, and a
framed video's frames are embedded once, by their content (an image's frame is embedded whole
and by its content: the bars of one picture may be part of it).
"""

import hashlib
import io
import json
import math
import struct
from dataclasses import dataclass, field
from typing import Any

import av
import av.error
import numpy as np
from PIL import Image

from dupgate.analysis.decode import WORKING_SIZE, InvalidImage
from dupgate.analysis.embedding import Embedder
from dupgate.analysis.features import ANALYSIS_VERSION, Features, analyze_pictures
from dupgate.analysis.preview import preview_jpeg
from dupgate.analysis.views import shared_box

# Bump whenever sampling or dropping changes: stored video features of another version are
# recomputed. Frames are image features, so ANALYSIS_VERSION is part of it too.
# 3: one content box for all frames; 4: framed frames embedded by their content only;
# 5: every decoded frame's print.
VIDEO_ANALYSIS_VERSION = 5

# One frame a second, at most MAX_FRAMES: a longer video is sampled more sparsely.
FRAME_INTERVAL = 1.0
MAX_FRAMES = 120
# A frame whose middle's grey levels spread less than this (standard deviation, 0-255) is
# black, white or one flat colour: an intro, a fade, a bare wall. It proves nothing. The middle
# (60% of each side), so that a logo in a corner or letterbox bars do not make it count.
FLAT_STD = 8.0
# A frame that differs from the last kept one by less than this (mean absolute grey difference
# of 32x32 thumbnails, 0-255) repeats it: a still shot stands for all its seconds at once.
REPEAT_DIFF = 2.5

# Every decoded frame's print: its luma as PRINT_SIDE x PRINT_SIDE block means. A copy that
# keeps the picture as it is (re-encoded, resized, trimmed, cut, sped up by dropping frames)
# has, at each of its samples, a frame of its source with the same print, wherever the samples
# fall; a moment a few frames away in a moving shot has another. So prints line a copy up with
# its source where the one-second grid cannot: 64 bytes a decoded frame.
PRINT_SIDE = 8
# Pixel formats whose first plane is 8-bit luma: read as it is, others are converted first.
_EIGHT_BIT_LUMA = frozenset(
    [
        "yuv420p",
        "yuvj420p",
        "yuv422p",
        "yuvj422p",
        "yuv444p",
        "yuvj444p",
        "yuv411p",
        "yuv440p",
        "nv12",
        "nv21",
        "gray",
    ]
)

_MAGIC = b"DGV"
_HEAD = struct.Struct("<3sHI")  # magic, format version, length of the JSON header
# Format 2 appends the prints after the JSON: n x 64 bytes, then n float32 times.
_FORMAT = 2


class InvalidVideo(InvalidImage):
    """The bytes are not a video dupgate can analyse; `reason` is machine-readable."""


@dataclass(frozen=True)
class VideoLimits:
    """What a video may be before it is refused: checked before and while decoding."""

    max_seconds: float = 20 * 60.0
    max_pixels: int = 4096 * 2304  # per frame: 4K DCI and everything smaller
    max_frames: int = 20 * 60 * 120  # decoded frames: 20 minutes at 120 frames a second


DEFAULT_VIDEO_LIMITS = VideoLimits()


@dataclass(frozen=True, eq=False)
class VideoFrame:
    """A kept frame: when it is shown, how many samples of the grid it stands for (itself and
    the repeats after it) and its image features."""

    time: float
    weight: int
    features: Features


@dataclass(frozen=True, eq=False)
class VideoFeatures:
    """Every signal of one video: its kept frames, in order of time."""

    version: int
    sha256: str
    width: int
    height: int
    duration: float  # seconds
    format: str
    interval: float  # seconds between samples of the grid
    frames: tuple[VideoFrame, ...]
    # A small JPEG of the first kept frame, kept as a blob by the bytes' SHA-256 (not stored here).
    preview: bytes | None = None
    # Every decoded frame's print (n, 64) uint8 and its time (n,) float32: see PRINT_SIDE.
    prints: np.ndarray = field(default_factory=lambda: np.zeros((0, PRINT_SIDE**2), np.uint8))
    print_times: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    @property
    def samples(self) -> int:
        """Samples of the grid that were not flat: what coverage is counted in."""
        return sum(frame.weight for frame in self.frames)

    def header(self) -> bytes:
        """The stored form without the frames' image features (those are stored by frame)."""
        head = json.dumps(
            {
                "version": self.version,
                "sha256": self.sha256,
                "width": self.width,
                "height": self.height,
                "duration": self.duration,
                "format": self.format,
                "interval": self.interval,
                "frames": [[round(f.time, 4), f.weight, f.features.sha256] for f in self.frames],
                "prints": len(self.print_times),
            },
            separators=(",", ":"),
        ).encode()
        return b"".join(
            [
                _HEAD.pack(_MAGIC, _FORMAT, len(head)),
                head,
                self.prints.astype(np.uint8).tobytes(),
                self.print_times.astype("<f4").tobytes(),
            ]
        )

    def to_bytes(self) -> bytes:
        """The whole analysis in one value (to hand it over, not to store: frames are stored
        one row each): the header, then each frame's features, length-prefixed."""
        parts = [self.header()]
        for frame in self.frames:
            data = frame.features.to_bytes()
            parts += [struct.pack("<I", len(data)), data]
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> "VideoFeatures":
        """The VideoFeatures that to_bytes wrote."""
        header_end = position = _header_size(data)
        frames: dict[str, Features] = {}
        while position < len(data):
            (size,) = struct.unpack_from("<I", data, position)
            features = Features.from_bytes(data[position + 4 : position + 4 + size])
            frames[features.sha256] = features
            position += 4 + size
        return cls.from_header(data[:header_end], frames)

    @classmethod
    def from_header(cls, data: bytes, frames: dict[str, Features]) -> "VideoFeatures":
        """The VideoFeatures that header() wrote, with the frames' features looked up by hash."""
        h = read_header(data)
        prints, print_times = read_prints(data)
        return cls(
            version=h["version"],
            sha256=h["sha256"],
            width=h["width"],
            height=h["height"],
            duration=h["duration"],
            format=h["format"],
            interval=h["interval"],
            frames=tuple(VideoFrame(t, weight, frames[sha]) for t, weight, sha in h["frames"]),
            prints=prints,
            print_times=print_times,
        )


def read_header(data: bytes) -> dict[str, Any]:
    """The JSON header of stored video features; ValueError if the bytes are not that."""
    if len(data) < _HEAD.size:
        raise ValueError("not dupgate video features: too short")
    magic, fmt_version, length = _HEAD.unpack_from(data)
    if magic != _MAGIC or fmt_version not in (1, _FORMAT):
        raise ValueError(f"not dupgate video features (magic {magic!r}, format {fmt_version})")
    header: dict[str, Any] = json.loads(data[_HEAD.size : _HEAD.size + length])
    return header


def read_prints(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The prints (n, 64) uint8 and their times (n,) float32 that header() wrote (none in
    features of format 1)."""
    start, n = _prints_at(data)
    prints = np.frombuffer(data, np.uint8, n * PRINT_SIDE**2, start)
    times = np.frombuffer(data, "<f4", n, start + n * PRINT_SIDE**2)
    return prints.reshape(n, PRINT_SIDE**2), times.astype(np.float32)


def _header_size(data: bytes) -> int:
    """Where header() output ends: after the JSON, the prints and their times."""
    start, n = _prints_at(data)
    return start + n * (PRINT_SIDE**2 + 4)


def _prints_at(data: bytes) -> tuple[int, int]:
    """Where the prints start in header() output, and how many there are."""
    _, _, length = _HEAD.unpack_from(data)
    return _HEAD.size + length, int(read_header(data).get("prints", 0))


def frame_sha256(video_sha256: str, number: int) -> str:
    """The key a video's kept frame is stored under: derived from the video's bytes and the
    analysis version, so another version's frame N never overwrites the one a video keeps."""
    key = f"{video_sha256}/v{ANALYSIS_VERSION}.{VIDEO_ANALYSIS_VERSION}/frame/{number}"
    return hashlib.sha256(key.encode()).hexdigest()


def analyze_video(
    data: bytes, embedder: Embedder, limits: VideoLimits = DEFAULT_VIDEO_LIMITS
) -> VideoFeatures:
    """Decode once, keep the informative frames of the grid and analyse them. Raises InvalidVideo."""
    sha256 = hashlib.sha256(data).hexdigest()
    sampled = sample_frames(data, limits)
    pictures = [picture for _, _, picture in sampled.frames]
    features = analyze_pictures(
        pictures,
        [frame_sha256(sha256, i) for i in range(len(pictures))],
        embedder,
        width=sampled.width,
        height=sampled.height,
        format=sampled.format,
        previews=False,
        box=shared_box(pictures),
    )
    return VideoFeatures(
        version=VIDEO_ANALYSIS_VERSION,
        sha256=sha256,
        width=sampled.width,
        height=sampled.height,
        duration=sampled.duration,
        format=sampled.format,
        interval=sampled.interval,
        frames=tuple(
            VideoFrame(t, weight, f)
            for (t, weight, _), f in zip(sampled.frames, features, strict=True)
        ),
        preview=preview_jpeg(pictures[0]),
        prints=sampled.prints,
        print_times=sampled.print_times,
    )


@dataclass(frozen=True)
class SampledFrames:
    """The frames kept from the grid: (time, weight, picture) each, and the video's facts."""

    width: int
    height: int
    duration: float
    format: str
    interval: float
    frames: list[tuple[float, int, Image.Image]]
    prints: np.ndarray  # (n, 64) uint8: every decoded frame's
    print_times: np.ndarray  # (n,) float32


def sample_frames(data: bytes, limits: VideoLimits = DEFAULT_VIDEO_LIMITS) -> SampledFrames:
    """Decode the video once and keep one informative frame per grid step. Raises InvalidVideo."""
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except (av.error.FFmpegError, ValueError, EOFError) as e:
        if _mp4_cut_short(data):
            raise InvalidVideo(
                "truncated", "the video file is cut short; upload the complete file"
            ) from None
        raise InvalidVideo(
            "not_a_video", f"the file could not be read as a video ({type(e).__name__})"
        ) from None
    with container:
        if not container.streams.video:
            if container.streams.audio:
                raise InvalidVideo(
                    "no_video_stream", "the file holds audio only; upload a video with a picture"
                )
            raise InvalidVideo("not_a_video", "the file holds no video stream")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        if width <= 0 or height <= 0:
            raise InvalidVideo("not_a_video", "the video stream declares no picture size")
        if width * height > limits.max_pixels:
            raise InvalidVideo(
                "too_large",
                f"the video is {width}x{height} pixels; at most {limits.max_pixels:,} pixels "
                "a frame are accepted",
            )
        declared = _declared_duration(container, stream)
        if declared is not None and declared > limits.max_seconds:
            raise InvalidVideo(
                "too_long",
                f"the video lasts {declared:.0f} s; at most {limits.max_seconds:.0f} s are accepted",
            )
        if stream.frames and stream.frames > limits.max_frames:
            raise InvalidVideo(
                "too_many_frames",
                f"the video declares {stream.frames:,} frames; at most {limits.max_frames:,} "
                "are accepted",
            )
        interval = FRAME_INTERVAL
        if declared is not None and declared / interval > MAX_FRAMES:
            interval = declared / MAX_FRAMES
        stream.thread_type = "AUTO"
        # Deblocking stays on: without it decoding is faster, but a low-bitrate re-encode's
        # blocks stay in its frames, and two such copies were then no longer exact.
        fmt = container.format.name.split(",")[0].upper()
        decoded = _decode_grid(container, stream, interval, width, height, limits)
    frames, last, broken = decoded.kept, decoded.last, decoded.broken
    seen = last if last is not None else 0.0
    if last is None:
        reason = "corrupt" if broken else "zero_duration"
        raise InvalidVideo(reason, "the video stream holds no decodable frame")
    duration = max(seen, declared or 0.0)
    if broken and declared and seen < 0.5 * declared:
        if broken == "cut short":
            raise InvalidVideo(
                "truncated",
                f"the video stream breaks off at {seen:.1f} s of the {declared:.1f} s it "
                "declares; upload the complete file",
            )
        raise InvalidVideo(
            "corrupt",
            f"the video stream is damaged at {seen:.1f} s of the {declared:.1f} s it declares; "
            "upload an undamaged file",
        )
    if duration <= 0 and len(frames) <= 1 and declared is not None and declared <= 0:
        raise InvalidVideo("zero_duration", "the video lasts 0 seconds")
    if not frames:
        raise InvalidVideo(
            "blank", "every sampled frame is black or one flat colour: nothing to compare"
        )
    return SampledFrames(
        width,
        height,
        round(duration, 3),
        fmt,
        interval,
        frames,
        np.array(decoded.prints, np.uint8).reshape(-1, PRINT_SIDE**2),
        np.array(decoded.print_times, np.float32),
    )


def _declared_duration(
    container: av.container.InputContainer, stream: av.VideoStream
) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


@dataclass
class _Decoded:
    """What decoding found: the kept frames, every decoded frame's print and time, the time of
    the last decoded frame, and how decoding broke off ("cut short", "damaged" or None)."""

    kept: list[tuple[float, int, Image.Image]] = field(default_factory=list)
    prints: list[np.ndarray] = field(default_factory=list)
    print_times: list[float] = field(default_factory=list)
    last: float | None = None
    broken: str | None = None


def _decode_grid(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    interval: float,
    width: int,
    height: int,
    limits: VideoLimits,
) -> _Decoded:
    scale = min(1.0, WORKING_SIZE / max(width, height))
    size = (max(2, round(width * scale)), max(2, round(height * scale)))
    found = _Decoded()
    kept = found.kept
    last_grey: np.ndarray | None = None
    start: float | None = None
    next_sample = 0.0
    last: float | None = None
    decoded = 0
    broken: str | None = None
    origin = 0.0
    if stream.start_time is not None and stream.time_base is not None:
        origin = float(stream.start_time * stream.time_base)
    rate = float(stream.average_rate) if stream.average_rate else 0.0
    # A frame this close after a sample time may be the sample: it is always decoded.
    reach = 1.5 / rate if rate > 0 else 0.2
    try:
        for packet in container.demux(stream):
            if packet.pts is not None and packet.time_base is not None:
                decoded += 1
                if decoded > limits.max_frames:
                    raise InvalidVideo(
                        "too_many_frames",
                        f"the video holds more than {limits.max_frames:,} frames",
                    )
                # Frames no other frame refers to are decoded only where a sample may be.
                at = float(packet.pts * packet.time_base) - origin
                offset = at - math.floor(at / interval + 1e-6) * interval
                stream.codec_context.skip_frame = "DEFAULT" if offset <= reach else "NONREF"
            for frame in packet.decode():
                if frame.time is None:
                    continue
                if start is None:
                    start = frame.time
                t = frame.time - start
                if t > limits.max_seconds:
                    raise InvalidVideo(
                        "too_long",
                        f"the video lasts over {limits.max_seconds:.0f} s; at most that is "
                        "accepted",
                    )
                last = t if last is None else max(last, t)
                found.prints.append(frame_print(frame))
                found.print_times.append(t)
                if t + 1e-3 < next_sample:
                    continue
                next_sample = (math.floor(t / interval + 1e-6) + 1) * interval
                picture: Image.Image = frame.to_image(  # type: ignore[no-untyped-call]
                    width=size[0], height=size[1]
                )
                grey = np.asarray(
                    picture.convert("L").resize((32, 32), Image.Resampling.BOX), np.float32
                )
                if _flat(picture):
                    continue
                if last_grey is not None and float(np.abs(grey - last_grey).mean()) < REPEAT_DIFF:
                    t0, weight, first = kept[-1]
                    kept[-1] = (t0, weight + 1, first)
                    continue
                kept.append((round(t, 4), 1, picture))
                last_grey = grey
    except InvalidVideo:
        raise
    except (av.error.EOFError, EOFError):
        broken = "cut short"
    except (av.error.FFmpegError, ValueError, MemoryError):
        broken = "damaged"
    found.last, found.broken = last, broken
    return found


def frame_print(frame: av.VideoFrame) -> np.ndarray:
    """The frame's print (PRINT_SIDE**2 uint8): its luma in block means, read from a sparse grid
    of pixels (about 64 rows and columns of it, so a few hundred thousand pixels cost what
    a small picture does; each block still averages about a hundred)."""
    if frame.format.name not in _EIGHT_BIT_LUMA:
        frame = frame.reformat(format="gray")
    plane = frame.planes[0]
    luma = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)[
        : plane.height, : plane.width
    ]
    if min(luma.shape) < PRINT_SIDE * 4:
        tiny = Image.fromarray(np.ascontiguousarray(luma)).resize(
            (PRINT_SIDE, PRINT_SIDE), Image.Resampling.BOX
        )
        return np.asarray(tiny, np.uint8).ravel()
    step = max(1, min(luma.shape) // (PRINT_SIDE * 8))
    sub = luma[::step, ::step]
    rows = np.linspace(0, sub.shape[0], PRINT_SIDE + 1).round().astype(int)
    cols = np.linspace(0, sub.shape[1], PRINT_SIDE + 1).round().astype(int)
    sums = np.add.reduceat(
        np.add.reduceat(sub, rows[:-1], axis=0, dtype=np.uint32), cols[:-1], axis=1
    )
    blocks: np.ndarray = np.round(sums / np.outer(np.diff(rows), np.diff(cols)))
    return blocks.astype(np.uint8).ravel()


def _mp4_cut_short(data: bytes) -> bool:
    """Whether an MP4/QuickTime file's top-level boxes run past its end (a cut-off download)."""
    if data[4:8] != b"ftyp":
        return False
    position = 0
    while position + 8 <= len(data):
        size = int.from_bytes(data[position : position + 4], "big")
        if size == 1 and position + 16 <= len(data):
            size = int.from_bytes(data[position + 8 : position + 16], "big")
        if size == 0:
            return False  # the last box runs to the end of the file, as declared
        if size < 8:
            return False  # not boxes: let the caller call it damaged
        position += size
    return position > len(data)


def _flat(picture: Image.Image) -> bool:
    """Whether the middle of the frame is one flat colour."""
    grey = np.asarray(picture.convert("L"), np.float32)
    h, w = grey.shape
    return float(grey[h // 5 : h - h // 5, w // 5 : w - w // 5].std()) < FLAT_STD
