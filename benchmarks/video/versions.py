"""Time the video analysis of two commits on one machine, alternating, so that a change's cost
is not lost in how fast the machine is that day: each commit is checked out in a temporary
worktree and analyses the same minute of 720p (made as benchmarks/video does) in its own
process, ROUNDS times in turn.

    .venv/bin/python -m benchmarks.video.versions OLD_COMMIT [NEW_COMMIT (default: the work tree)]
"""

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.video.__main__ import SOURCES, VIDEOS
from benchmarks.video.edits import minute_720p

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 3
# Run inside the checkout being timed: its own dupgate is imported.
TIMED = """
import sys, time
from pathlib import Path
from dupgate.analysis import load_embedder
from dupgate.analysis.video import analyze_video, sample_frames
data = Path(sys.argv[1]).read_bytes()
embedder = load_embedder()
analyze_video(data, embedder)  # warm: the model loaded, the caches filled
started = time.perf_counter()
sample_frames(data)
sampled = time.perf_counter() - started
started = time.perf_counter()
analyze_video(data, embedder)
print(sampled, time.perf_counter() - started)
"""


def timed(root: Path, minute: Path) -> tuple[float, float]:
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", TIMED, str(minute)],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    sampled, analysed = done.stdout.split()
    return float(sampled), float(analysed)


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit(__doc__)
    work = Path(tempfile.mkdtemp(prefix="dupgate-versions-"))
    minute = work / "minute-720p.mp4"
    minute.write_bytes(minute_720p([VIDEOS / f"{name}.mp4" for name in SOURCES]))
    roots: dict[str, Path] = {}
    for commit in argv[:2]:
        roots[commit] = work / commit
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(roots[commit]), commit],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
    if len(argv) == 1:
        roots["work tree"] = ROOT
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in roots}
    try:
        for _ in range(ROUNDS):
            for name, root in roots.items():
                times[name].append(timed(root, minute))
    finally:
        for commit in argv[:2]:
            subprocess.run(["git", "worktree", "remove", "--force", str(roots[commit])], cwd=ROOT)
    print(f"A minute of 720p, {ROUNDS} runs each, alternating; median (all runs), seconds:\n")
    print("| code | decode + sample | whole analysis |")
    print("|---|---|---|")
    for name, runs in times.items():
        sampled = [s for s, _ in runs]
        analysed = [a for _, a in runs]
        print(
            f"| {name} | {statistics.median(sampled):.2f} ({', '.join(f'{s:.2f}' for s in sampled)}) "
            f"| {statistics.median(analysed):.2f} ({', '.join(f'{a:.2f}' for a in analysed)}) |"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
