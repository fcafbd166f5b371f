"""Scan benchmark: how long dupgate takes to group a whole collection's duplicates, at 10k-1M.

    .venv/bin/python -m benchmarks.scan [--sizes 10000,100000,1000000] [--peer-cap 600]
                                        [--peer-sizes 10000,100000] [--workers 2]
                                        [--thresholds 0.40] [--output RESULTS.md]

For each size, in a fresh process (so its peak memory is its own): build the index from stored
features (`CollectionIndex.add_many`) and run `dupgate.scans.find_groups` at each of
--thresholds (default: the near threshold), then check the groups against the truth (which photo each image shows). At 10k
the groups are also compared with scoring every pair (n², the answer the index must not
change). Then, on the same images, imagededup's searches (see peers.py), each stopped at
--peer-cap seconds. The collections are described in dataset.py: 10k real, 100k and 1M
synthetic. Writes benchmarks/scan/RESULTS.md. Needs `pip install -r
benchmarks/scan/requirements.txt` for the peers.
"""

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from benchmarks.scan.dataset import CACHE, HERE, real_collection
from benchmarks.scan.measure import (
    DENSE_MEMORY_LIMIT,
    REAL_SIZE,
    gib,
    provenance,
    run_dupgate,
    run_peers,
    seconds,
)
from dupgate.matching.score import DEFAULT_EXACT, DEFAULT_NEAR

RESULTS = HERE / "RESULTS.md"


PEER_LABELS = {
    "brute_force_cython": "imagededup pHash, brute_force_cython (its Linux default)",
    "bktree": "imagededup pHash, BK-tree",
    "dense": "imagededup CNN-style dense n×n cosine matrix (on SSCD)",
}


def describe_peer(row: dict[str, Any]) -> str:
    if row["finished"]:
        return (
            f"finished in {seconds(row['seconds'])}: {row['groups']:,} groups, "
            f"{row['copies_found']:.1%} of copies with their original, "
            f"{row['mixing']:,} groups mixing photos"
        )
    if row["error"]:
        return f"broke after {seconds(row['seconds'])}: {row['error']}" + (
            f" (the float16 matrix alone needs {gib(row['size'] ** 2 * 2)}, and stacking it as much again)"
            if row["method"] == "dense"
            else ""
        )
    done, total = row["queries_done"], row["size"]
    text = f"stopped at the {seconds(row['seconds'])} cap"
    if row["build_s"] is None:
        return text + " before its index was built"
    text += f" (index built in {seconds(row['build_s'])}): {done:,} of {total:,} queries done"
    search_s = row["seconds"] - row["build_s"]
    if done:
        text += f"; at that rate all of them need ≈ {seconds(row['build_s'] + search_s * total / done)} (extrapolated)"
    return text


def at(row: dict[str, Any]) -> str:
    """ "10,000 images, threshold 0.40": which run a sentence is about."""
    return f"{row['size']:,} images, threshold {row.get('threshold', DEFAULT_NEAR):.2f}"


def report(
    args: argparse.Namespace, ours: list[dict[str, Any]], theirs: list[dict[str, Any]]
) -> str:
    lines = [
        "# Scan benchmark",
        "",
        *provenance("benchmarks.scan"),
        "",
        "What is timed: building the index from stored features (`CollectionIndex.add_many`) and",
        "`dupgate.scans.find_groups` at the threshold in the table (default: the near threshold,",
        f"{DEFAULT_NEAR:.2f}; exact from {DEFAULT_EXACT:.2f}), in a fresh process per size and threshold;",
        "peak memory is that process's, features included. The analysis of the images is not",
        "timed: a scan reads stored features.",
        "",
        "Collections (benchmarks/scan/dataset.py): **10k is real**: the 1,000 ImageNet photos of",
        "`../shared/datasets/imagenet-sample` and 9 Pillow edits of each (half size, JPEG q40, PNG at",
        "0.75, caption, 80% crop, mirror, brighter, white frame, meme bands), all analysed by",
        "dupgate, so 1,000 true groups of 10. **100k and 1M are synthetic**: 10 or 100 copies of",
        "the 10k set, each with its embeddings turned by its own random rotation and its pHashes",
        "XORed with its own mask: scores inside a copy are the real ones, copies are unrelated to",
        "each other (more unrelated than real distinct photos are), so 10,000 or 100,000 true groups.",
        "",
        "| images | features | threshold | index build | scan | total | peak memory | groups | copies grouped with their original | groups mixing photos |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in ours:
        kind = "real" if row["size"] <= REAL_SIZE else "synthetic"
        lines.append(
            f"| {row['size']:,} | {kind} | {row.get('threshold', DEFAULT_NEAR):.2f} | "
            f"{seconds(row['build_s'])} | {seconds(row['scan_s'])} | "
            f"{seconds(row['build_s'] + row['scan_s'])} | {gib(row['peak_bytes'])} | {row['groups']:,} | "
            f"{row['copies_found']:.1%} | {row['mixing']:,} |"
        )
    for row in ours:
        across = ", ".join(f"{n:,} {kind}" for kind, n in row["pairs_across_photos"].items())
        if across:
            lines += [
                "",
                f"At {at(row)}, the pairs that join two different photos: {across}.",
            ]
    for row in ours:
        found = ", ".join(
            f"{edit} {share:.1%}" for edit, share in row["copies_found_by_edit"].items()
        )
        lines += ["", f"At {at(row)}, copies grouped with their original, by edit: {found}."]
    for row in ours:
        if "same_as_all_pairs" in row:
            lines += [
                "",
                f"At {at(row)} the groups are "
                + ("**identical**" if row["same_as_all_pairs"] else "**not identical**")
                + f" to those from scoring all pairs (n², {seconds(row['all_pairs_s'])}).",
            ]
    if theirs:
        lines += [
            "",
            "## The peer approach on the same images",
            "",
            "imagededup 0.3.3's own search code (benchmarks/scan/peers.py says exactly how it is",
            f"driven), {args.workers} processes as its `num_dist_workers` default on this machine,",
            f"each run stopped after {seconds(args.peer_cap)}; the dense run under a "
            f"{gib(DENSE_MEMORY_LIMIT)} address-space cap.",
            "",
            "| method | images | outcome |",
            "|---|---|---|",
        ]
        for row in theirs:
            lines.append(
                f"| {PEER_LABELS[row['method']]} | {row['size']:,} | {describe_peer(row)} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scan", description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--peer-sizes", default="10000,100000")
    parser.add_argument("--peer-cap", type=float, default=600.0, help="seconds per peer run")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--thresholds", default=f"{DEFAULT_NEAR}", help="scan thresholds to run dupgate at"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the report from the last run's figures"
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    peer_sizes = [int(s) for s in args.peer_sizes.split(",") if s]
    thresholds = [float(t) for t in args.thresholds.split(",") if t]
    figures = CACHE / "last-run.json"

    if args.report_only:
        saved = json.loads(figures.read_text())
        args.peer_cap = saved["peer_cap"]
        sys.argv[1:] = saved["argv"]
        text = report(args, saved["ours"], saved["theirs"])
        args.output.write_text(text)
        print(text)
        return
    real_collection(args.workers)  # analyse (or load) the 10k set once, before timing anything
    ours: list[dict[str, Any]] = []
    theirs: list[dict[str, Any]] = []

    def save() -> None:
        run = {
            "argv": argv,
            "peer_cap": args.peer_cap,
            "ours": ours,
            "theirs": theirs,
        }
        figures.write_text(json.dumps(run, indent=1))

    for size in sizes:
        print(f"dupgate on {size:,} images", flush=True)
        for threshold in thresholds:
            ours.append(run_dupgate(size, args.workers, threshold))
            print(f"  {json.dumps(ours[-1])}", flush=True)
            save()
    for size in peer_sizes:
        theirs += run_peers(size, args.workers, args.peer_cap)
        save()
    text = report(args, ours, theirs)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
