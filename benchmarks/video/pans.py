"""How fast a handheld pan stops being "the same picture": the image score between a frame of
the chair clip and the frames after it, at several starts. It says how close in time two
samples must be for a trimmed or sped-up copy of a pan to match. Writes PANS.md beside it.

    .venv/bin/python -m benchmarks.video.pans
"""

from pathlib import Path

import av

from dupgate.analysis import load_embedder
from dupgate.analysis.features import analyze_pictures
from dupgate.matching.score import VERIFIED_FLOOR, score

HERE = Path(__file__).resolve().parent
CLIP = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "datasets"
    / "videos"
    / "chair-orig-22-sd-bar.mp4"
)
STARTS = (3.0, 5.0, 7.0, 9.0, 12.0, 18.0)  # seconds: the pan is fastest from 4 to 10 s
LATER = (1, 2, 3, 5, 8, 12, 15)  # frames after the start, at 30 frames a second


def main() -> None:
    with av.open(str(CLIP)) as container:
        frames = [(f.time, f.to_image(width=341, height=512)) for f in container.decode(video=0)]
    chosen: list[tuple[float, int]] = []
    pictures = []
    for start in STARTS:
        first = min(range(len(frames)), key=lambda i: abs(frames[i][0] - start))
        for later in (0, *LATER):
            chosen.append((start, later))
            pictures.append(frames[first + later][1])
    features = dict(
        zip(
            chosen,
            analyze_pictures(
                pictures,
                [str(i) for i in range(len(pictures))],
                load_embedder(),
                width=480,
                height=720,
                format="MP4",
                previews=False,
            ),
            strict=True,
        )
    )
    lines = [
        "# How fast a handheld pan stops being the same picture",
        "",
        "`python -m benchmarks.video.pans`: the image score (verified from "
        f"{VERIFIED_FLOOR}) between a frame of {CLIP.name} and the frames after it.",
        "",
        "| start | " + " | ".join(f"+{n} ({n / 30:.2f} s)" for n in LATER) + " |",
        "|---|" + "---|" * len(LATER),
    ]
    for start in STARTS:
        cells = [score(features[(start, 0)], features[(start, n)]) for n in LATER]
        lines.append(
            f"| {start:.0f} s | "
            + " | ".join(f"**{c:.2f}**" if c < VERIFIED_FLOOR else f"{c:.2f}" for c in cells)
            + " |"
        )
    text = "\n".join(lines) + "\n"
    (HERE / "PANS.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
