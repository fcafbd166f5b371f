"""What verification costs per candidate, on this machine, from stored features only.

    .venv/bin/python -m benchmarks.quality.verify_cost [--pairs 300]

Times `dupgate.matching.score.score()` and `verify()` on two kinds of candidate an upload meets:
an edited copy of the upload's own picture (verification usually stops at the first alignment)
and a look-alike: another garment of the same contributor of the clothing set whose SSCD cosine
is at least RETRIEVAL_FLOOR (every alignment is tried before it is refused). Features are
analysed first and not timed. Writes benchmarks/quality/RESULTS-verification-cost.md.
"""

import argparse
import csv
import io
import itertools
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
from PIL import Image, ImageDraw

from benchmarks.quality.paths import CLOTHING, HERE
from dupgate.analysis import Features, analyze, load_embedder
from dupgate.matching.score import RETRIEVAL_FLOOR, cosine, score
from dupgate.matching.verify import verify

RESULTS = HERE / "RESULTS-verification-cost.md"


def edited(data: bytes) -> bytes:
    """The photo cropped by a tenth and captioned: a near copy."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = image.size
    image = image.crop((w // 10, h // 10, w, h))
    ImageDraw.Draw(image).text((10, 10), "SOLD OUT", fill="red")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def timed(
    pairs: list[tuple[Features, Features]], step: Callable[[Features, Features], object]
) -> tuple[float, float]:
    times = []
    for query, candidate in pairs:
        start = time.perf_counter()
        step(query, candidate)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times)), float(np.percentile(times, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=300)
    args = parser.parse_args()
    embedder = load_embedder("onnx", threads=1)
    with open(CLOTHING / "images.csv") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: (int(r["sender_id"]), r["image"]))
    by_sender: dict[str, list[str]] = {}
    for r in rows:
        by_sender.setdefault(r["sender_id"], []).append(r["image"])
    senders = sorted(by_sender, key=lambda s: -len(by_sender[s]))[:6]
    photos = [CLOTHING / "images" / f"{name}.jpg" for s in senders for name in by_sender[s][:40]]
    features = {p: analyze(p.read_bytes(), embedder) for p in photos}
    copies = [
        (analyze(edited(p.read_bytes()), embedder), features[p]) for p in photos[: args.pairs // 2]
    ]
    lookalikes = [
        (features[a], features[b])
        for a, b in itertools.permutations(photos, 2)
        if a.parent == b.parent and a != b and cosine(features[a], features[b]) >= RETRIEVAL_FLOOR
    ][: args.pairs]

    def verified(q: Features, c: Features) -> object:
        assert q.local is not None and c.local is not None
        return verify(q.local, c.local)

    table = [
        ("edited copy of the upload's picture", len(copies), *timed(copies, score)),
        ("look-alike garment, cosine >= floor", len(lookalikes), *timed(lookalikes, score)),
        ("look-alike, verify() alone", len(lookalikes), *timed(lookalikes, verified)),
    ]
    lines = [
        "# Verification cost per candidate",
        "",
        "- Command: `.venv/bin/python -m benchmarks.quality.verify_cost"
        + (f" --pairs {args.pairs}`" if args.pairs != 300 else "`"),
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.machine()}, one thread",
        "",
        "| candidate | pairs | score() median ms | p95 ms |",
        "|---|---|---|---|",
        *(f"| {name} | {n} | {p50:.1f} | {p95:.1f} |" for name, n, p50, p95 in table),
        "",
        "Candidates under the SSCD floor cost one dot product and are not verified; an upload",
        "pays this per candidate from the floor up (at most the index's 20 nearest, plus",
        "identical bytes and close pHashes).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
