"""Video analysis: the grid of frames, what is dropped, and what is refused with a reason."""

import io
import json
import struct
from fractions import Fraction

import av
import numpy as np
import pytest

from dupgate.analysis import Embedder
from dupgate.analysis.video import (
    VIDEO_ANALYSIS_VERSION,
    InvalidVideo,
    VideoFeatures,
    VideoLimits,
    analyze_video,
    read_prints,
    sample_frames,
)
from tests.videos import audio_only, clip, transcode


def drawn_video(seconds: int, black_seconds: int = 0, fps: int = 10, moving: bool = True) -> bytes:
    """A video drawn here: `black_seconds` of black, then a checkerboard (moving or still)."""
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as target:
        stream = target.add_stream("libx264", rate=Fraction(fps, 1))
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for n in range(seconds * fps):
            pixels = np.zeros((120, 160, 3), np.uint8)
            if n >= black_seconds * fps:
                y, x = np.mgrid[:120, :160]
                pixels[((x + 3 * n * moving) // 20 + y // 20) % 2 == 0] = (230, 120, 40)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts, frame.time_base = n, Fraction(1, fps)
            target.mux(stream.encode(frame))
        target.mux(stream.encode(None))
    return out.getvalue()


def test_one_frame_a_second_is_kept_and_the_black_intro_is_dropped() -> None:
    sampled = sample_frames(drawn_video(6, black_seconds=2))
    times = [t for t, _, _ in sampled.frames]
    assert times[0] == pytest.approx(2.0) and len(times) == 4
    assert sampled.duration == pytest.approx(5.9, abs=0.15)


def test_a_still_shot_is_kept_once_and_stands_for_its_seconds() -> None:
    sampled = sample_frames(drawn_video(5, moving=False))
    assert [(t, weight) for t, weight, _ in sampled.frames] == [(0.0, 5)]


def test_a_video_of_one_flat_colour_is_refused_as_blank() -> None:
    flat = transcode(clip("doorknob-hd-no-bar"), seconds=3, edit=lambda p: p * 0 + p[:1, :1])
    with pytest.raises(InvalidVideo) as refused:
        sample_frames(flat)
    assert refused.value.reason == "blank"


def test_features_keep_their_frames_and_times_through_storage(embedder: Embedder) -> None:
    video = analyze_video(drawn_video(3), embedder)
    frames = {f.features.sha256: f.features for f in video.frames}
    again = VideoFeatures.from_header(video.header(), frames)
    assert [f.time for f in again.frames] == [f.time for f in video.frames]
    assert again.version == VIDEO_ANALYSIS_VERSION and again.sha256 == video.sha256
    # Every decoded frame has a print: of 30 frames (3 s at 10 a second), at least the kept ones.
    assert len(video.frames) <= len(video.prints) <= 30 and video.prints.shape[1] == 64
    assert np.array_equal(again.prints, video.prints)
    assert np.array_equal(again.print_times, video.print_times)
    assert np.array_equal(VideoFeatures.from_bytes(video.to_bytes()).prints, video.prints)


def test_features_stored_before_prints_read_with_none() -> None:
    head = json.dumps(
        {
            "version": 4,
            "sha256": "0" * 64,
            "width": 160,
            "height": 120,
            "duration": 1.0,
            "format": "MP4",
            "interval": 1.0,
            "frames": [],
        }
    ).encode()
    stored = struct.pack("<3sHI", b"DGV", 1, len(head)) + head
    prints, times = read_prints(stored)
    assert prints.shape == (0, 64) and times.shape == (0,)


def test_a_copy_has_its_sources_print_at_each_sample_wherever_it_was_cut() -> None:
    original = sample_frames(transcode(clip("chair-orig-22-sd-bar"), seconds=8))
    cut = sample_frames(transcode(clip("chair-orig-22-sd-bar"), start=2.5, seconds=4, crf=34))

    def normalised(prints: np.ndarray) -> np.ndarray:
        centred = prints.astype(np.float32) - prints.mean(axis=1, keepdims=True)
        return centred / np.linalg.norm(centred, axis=1, keepdims=True)

    at = [int(np.abs(cut.print_times - t).argmin()) for t, _, _ in cut.frames]
    similar = normalised(cut.prints[at]) @ normalised(original.prints).T
    best = similar.argmax(axis=1)
    assert (similar.max(axis=1) >= 0.97).all()
    assert original.print_times[best] - cut.print_times[at] == pytest.approx(
        [2.5] * len(at), abs=0.05
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"not a video at all, just words", "not_a_video"),
        (audio_only(), "no_video_stream"),
    ],
)
def test_what_is_not_a_video_is_refused_with_a_reason(content: bytes, reason: str) -> None:
    with pytest.raises(InvalidVideo) as refused:
        sample_frames(content)
    assert refused.value.reason == reason


def test_a_truncated_video_is_refused() -> None:
    content = drawn_video(6)
    with pytest.raises(InvalidVideo) as refused:
        sample_frames(content[: len(content) // 3])
    assert refused.value.reason == "truncated"


def test_limits_refuse_long_large_and_many_framed_videos() -> None:
    content = drawn_video(4)
    for limits, reason in [
        (VideoLimits(max_seconds=2), "too_long"),
        (VideoLimits(max_pixels=100 * 100), "too_large"),
        (VideoLimits(max_frames=20), "too_many_frames"),
    ]:
        with pytest.raises(InvalidVideo) as refused:
            sample_frames(content, limits)
        assert refused.value.reason == reason


def test_a_stream_damaged_in_the_middle_is_refused_as_corrupt() -> None:
    content = bytearray(drawn_video(8))
    start, length = len(content) // 3, len(content) // 3
    content[start : start + length] = (bytes(range(256)) * (length // 256 + 1))[:length]
    with pytest.raises(InvalidVideo) as refused:
        sample_frames(bytes(content))
    assert refused.value.reason == "corrupt"
