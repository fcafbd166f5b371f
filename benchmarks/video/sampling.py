"""What denser sampling buys on the handheld chair clips, and what it costs.

A trimmed, sped-up or cut copy samples the picture at other moments than its source does (up to
half an interval apart), and in a fast handheld pan frames a third of a second apart are no
longer the same picture (PANS.md). Sampling more often closes that gap, at the cost of analysing
more frames. This runs the chair clips' misaligned copies at several intervals, each against an
index of both chair recordings (the source and the separate recording of the same chair, which
must never match), and writes SAMPLING.md beside it.

    .venv/bin/python -m benchmarks.video.sampling
"""

import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.video.__main__ import CUT_STARTS, SOURCES, VIDEOS
from benchmarks.video.edits import Edit, edits, make_copy
from dupgate.analysis import load_embedder
from dupgate.analysis.video import VideoFeatures, analyze_video
from dupgate.index.collection import CollectionIndex
from dupgate.matching.score import DEFAULT_EXACT, DEFAULT_NEAR
from dupgate.matching.video import Alignment, align, frame_pairs, timeline_of

HERE = Path(__file__).resolve().parent
CHAIRS = ("chair-orig-22-sd-bar", "chair-19-sd-bar")
INTERVALS = (1.0, 1 / 2, 1 / 3)


@dataclass
class Row:
    interval: float
    source: str
    copy: str
    own: Alignment | None
    other: Alignment | None


def misaligned_edits(source: str) -> list[Edit]:
    """The edits whose samples fall between the source's: trims, speed, cuts."""
    starts = CUT_STARTS[SOURCES[source][0]]
    made = edits(starts[0])
    return [made[4], made[5], *(edits(start)[-1] for start in starts)]


def verdict(alignment: Alignment | None) -> str:
    if alignment is None or alignment.tier == "unique":
        return "–"
    return (
        f"{alignment.tier} {alignment.score:.2f} (cov {alignment.query_coverage:.2f}/"
        f"{alignment.match_coverage:.2f})"
    )


def main() -> None:
    embedder = load_embedder()
    copies = {
        (source, edit.name): make_copy(VIDEOS / f"{source}.mp4", edit)
        for source in CHAIRS
        for edit in misaligned_edits(source)
    }
    rows: list[Row] = []
    timing: dict[float, float] = {}
    whole: dict[float, Alignment | None] = {}
    for interval in INTERVALS:
        sources: dict[str, VideoFeatures] = {}
        seconds = spent = 0.0
        for name in CHAIRS:
            started = time.perf_counter()
            sources[name] = analyze_video(
                (VIDEOS / f"{name}.mp4").read_bytes(), embedder, interval=interval
            )
            spent += time.perf_counter() - started
            seconds += sources[name].duration
        timing[interval] = spent / seconds * 60
        index: CollectionIndex = CollectionIndex()
        label = 0
        for name, video in sources.items():
            for number, frame in enumerate(video.frames):
                label += 1
                index.add(label, f"{name}/{number}", frame.features)
        timelines = {name: timeline_of(video) for name, video in sources.items()}
        a, b = CHAIRS
        whole[interval] = align(
            timelines[a],
            timelines[b],
            frame_pairs(index, sources[a]).get(b, []),
            DEFAULT_EXACT,
            DEFAULT_NEAR,
        )
        for (source, edit), data in copies.items():
            query = analyze_video(data, embedder, interval=interval)
            pairs = frame_pairs(index, query)
            other = next(name for name in CHAIRS if name != source)
            found = {
                name: align(
                    timeline_of(query),
                    timelines[name],
                    pairs.get(name, []),
                    DEFAULT_EXACT,
                    DEFAULT_NEAR,
                )
                for name in CHAIRS
            }
            rows.append(Row(interval, source, edit, found[source], found[other]))
        print(f"every {interval:.2f} s: done", flush=True)
    text = render(rows, timing, whole)
    (HERE / "SAMPLING.md").write_text(text)
    print(text)


def matched(alignment: Alignment | None) -> bool:
    return alignment is not None and alignment.tier != "unique"


def render(
    rows: list[Row], timing: dict[float, float], whole: dict[float, Alignment | None]
) -> str:
    lines = [
        "# Denser sampling on the handheld chair clips: what it buys and what it costs",
        "",
        "`python -m benchmarks.video.sampling`: the chair clips' trimmed, sped-up and cut copies "
        "(benchmarks/video/edits.py), each matched against both chair recordings, analysed at "
        "several intervals between samples (the product samples every 1 s). 'Own' is the "
        "copy's source; 'other' is the separate recording of the same chair, which is a "
        "different video: any match there is false. Thresholds are the defaults "
        f"(exact {DEFAULT_EXACT}, near {DEFAULT_NEAR}).",
        "",
        "| every | copied from | copy | own source | other recording |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.interval:.2f} s | {row.source} | {row.copy} | {verdict(row.own)} | "
            f"{verdict(row.other)} |"
        )
    lines += [
        "",
        "| every | copies found | copies also matched to the other recording | "
        "the two recordings against each other | analysis, s per minute of the chair clips |",
        "|---|---|---|---|---|",
    ]
    for interval, seconds in timing.items():
        at = [row for row in rows if row.interval == interval]
        lines.append(
            f"| {interval:.2f} s | {sum(matched(r.own) for r in at)}/{len(at)} | "
            f"{sum(matched(r.other) for r in at)}/{len(at)} | "
            f"{verdict(whole[interval]) if matched(whole[interval]) else 'unique'} | "
            f"{seconds:.1f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
