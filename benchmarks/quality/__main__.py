"""Detection-quality benchmark: dupgate's matcher against pHash, PDQ and SSCD alone.

    .venv/bin/python -m benchmarks.quality [--quick] [--split calibration|heldout]

See benchmarks/quality/README.md.
"""

import argparse
import datetime as dt
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.quality import dataset, extras, margin, report, timing
from benchmarks.quality import dupgate_api as dg
from benchmarks.quality import methods as m
from benchmarks.quality.evaluate import max_fresh_score, recall_above, summarise
from benchmarks.quality.paths import CACHE, HERE, resolve

TIMING_SAMPLE = {"full": 120, "quick": 15}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a small smoke run (about a minute)")
    parser.add_argument(
        "--split",
        choices=sorted(dataset.SPLIT_SEEDS),
        default="calibration",
        help="which disjoint set of query photos and edit seeds to use",
    )
    parser.add_argument("--workers", type=int, default=2, help="processes for copies and hashes")
    parser.add_argument("--output", type=Path, help="where to write the report")
    return parser.parse_args(argv)


def default_output(split: str, quick: bool) -> Path:
    if quick:
        return CACHE / f"RESULTS-{split}-quick.md"  # a smoke run never replaces real results
    return HERE / ("RESULTS.md" if split == "calibration" else f"RESULTS-{split}.md")


# Candidate near thresholds for the calibration sweep.
SWEEP = (0.30, 0.35, 0.40, 0.45, 0.50, 0.55, 0.60, 0.70)


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    size = dataset.QUICK if args.quick else dataset.FULL
    print(f"dupgate code under test: {dg.IMPLEMENTATION}")

    labelled = dataset.build(args.split, size, args.workers)
    queries = labelled.queries
    query_paths = [resolve(q.path) for q in queries]
    catalog_names = [p.name for p in labelled.catalog]
    all_paths = sorted(set(labelled.catalog) | set(query_paths) | set(labelled.all_photos))

    embedder = dg.load_embedder("onnx", None, "cpu")  # the defaults of dupgate.settings
    peers = m.compute_peer_hashes(all_paths, args.workers)
    feats = m.compute_dupgate_features(all_paths, embedder)

    cat_feats = [feats[p] for p in labelled.catalog]
    cat_peers = [peers[p] for p in labelled.catalog]
    q_feats = [feats[p] for p in query_paths]
    q_peers = [peers[p] for p in query_paths]
    outcomes = {
        "dupgate": m.match_dupgate(q_feats, cat_feats, dg.DEFAULT_EXACT, dg.DEFAULT_NEAR),
        "sscd": m.match_sscd(q_feats, cat_feats),
        **{k: m.match_hashes(k, q_peers, cat_peers) for k in ("phash", "pdq", "pdq_dihedral")},
    }
    summaries = {
        k: summarise(queries, o, catalog_names, dupgate=k == "dupgate") for k, o in outcomes.items()
    }

    pair_feats = [feats[p] for p in labelled.all_photos]
    margins = margin.distinct_pairs(pair_feats, [p.name for p in labelled.all_photos])
    thresholds = [
        recall_above(
            "max fresh-photo score",
            max_fresh_score(queries, outcomes["dupgate"]),
            queries,
            outcomes["dupgate"],
            catalog_names,
        ),
        recall_above(
            "max distinct-pair score",
            float(margins.scores.max()),
            queries,
            outcomes["dupgate"],
            catalog_names,
        ),
    ]

    # The calibration sweep: what each candidate near threshold would find, and how many pairs
    # of distinct photos (per million) would reach it.
    sweep = [
        (
            recall_above(f"{t:.2f}", t - 1e-9, queries, outcomes["dupgate"], catalog_names),
            float((margins.scores >= t).mean() * 1e6),
        )
        for t in SWEEP
    ]

    sample_every = max(1, len(all_paths) // TIMING_SAMPLE["quick" if args.quick else "full"])
    timings = timing.measure(all_paths[::sample_every], embedder)

    sections = [extras.imagededup_section(embedder, args.workers)]
    pdq_hashes = extras.pdq_hash_check()
    sections.append(extras.pdq_section(embedder, args.workers))

    elapsed = time.perf_counter() - started
    command = " ".join([".venv/bin/python -m benchmarks.quality", *map(shlex.quote, argv)])
    text = render(
        args, size, labelled, summaries, thresholds, sweep, margins, timings, sections,
        pdq_hashes, command, elapsed, len(all_paths[::sample_every]),
    )  # fmt: skip
    out = args.output or default_output(args.split, args.quick)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    print(f"written to {out} in {elapsed:.0f} s")


def render(
    args, size, labelled, summaries, thresholds, sweep, margins, timings, sections, pdq_hashes,
    command, elapsed, n_timed,
) -> str:  # fmt: skip
    klass_of = {}
    for q in labelled.queries:
        if q.klass != "fresh":
            klass_of.setdefault(q.edit, q.klass)
    n_fresh = sum(q.klass == "fresh" for q in labelled.queries)
    n_copies = len(labelled.queries) - n_fresh
    warning: list[str] = []
    lines = [
        "# Detection quality",
        "",
        *warning,
        f"- Command: `{command}`",
        f"- Date: {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        f"- Machine: {report.machine()}",
        f"- dupgate code: {dg.IMPLEMENTATION}; thresholds as shipped: exact ≥ "
        f"{dg.DEFAULT_EXACT}, near ≥ {dg.DEFAULT_NEAR} (calibrated on the `calibration` split; see the sweep below)",
        f"- Split: `{args.split}`{' (quick)' if args.quick else ''}; catalog {len(labelled.catalog)} "
        f"photos, {n_copies} copies of {size.sources} of them ({size.copies_per_edit} per edit), "
        f"{n_fresh} fresh photos that are in no catalog; manifest "
        f"`{labelled.manifest.relative_to(HERE.parents[1])}`",
        f"- Run time: {elapsed:.0f} s (features cached in `benchmarks/quality/.cache/` are reused)",
        "",
        "Protocol: every catalog photo is analysed and ingested; then each copy and fresh photo is "
        "checked against the catalog alone (queries are not ingested). A copy counts as found "
        "only when the method's best match is its own original.",
        "",
        "## Results per method",
        "",
        *report.main_table(summaries, timings),
        "",
        "dupgate's tier for the best candidate, per class:",
        "",
        *report.tier_table(summaries["dupgate"]),
        "",
        "dupgate's recall if its near threshold were set just above the highest score a fresh "
        "photo, or a pair of distinct photos, reached in this run.",
        "",
        *report.threshold_table(thresholds),
        "",
        "## Calibration: the near threshold",
        "",
        "Recall at each candidate near threshold (best candidate scoring at or above it), and "
        "how many pairs of distinct photos (all pairs of the photo set) reach it, per million "
        "pairs: a new upload into a collection of N unrelated images is expected to reach the "
        "threshold with N × rate / 1,000,000 of them. Thresholds are chosen on the "
        "`calibration` split only.",
        "",
        *report.sweep_table(sweep),
        "",
        "## Recall per edit",
        "",
        *report.per_edit_table(summaries, klass_of),
        "",
        f"## Time per image (median of {n_timed} files, one at a time, this machine)",
        "",
        *report.timing_table(timings),
        "",
        "SSCD alone needs exactly a decode and one inference, so its time is the "
        "`decode + 1 SSCD inference` row (Pillow's full decode, as a peer would do it). "
        f"dupgate's target is full analysis ≤ 2x that: "
        f"{timings['dupgate'] / timings['decode + 1 SSCD inference']:.2f}x here; against "
        "dupgate's own reduced-size decode plus one inference (the floor of its analysis) it is "
        f"{timings['dupgate'] / timings['dupgate decode + 1 SSCD inference']:.2f}x.",
        "",
        "## Safety margin: dupgate's score over distinct photos",
        "",
        *report.margin_section(margins, dg.DEFAULT_NEAR, dg.DEFAULT_EXACT),
        "",
        "## Extra test sets",
        "",
        *report.pdq_check_section(pdq_hashes),
    ]
    for section in sections:
        lines += report.extra_section(section)
    lines += [
        "## Method notes",
        "",
        *report.METHOD_NOTES,
        "- dupgate: brute-force candidates (top "
        f"{m.EMBEDDING_CANDIDATES} by the best of the query's embedding and views, every pHash "
        f"within {m.PHASH_CANDIDATE_DISTANCE}, identical SHA-256), each scored with "
        "`dupgate.matching.score.score()`; the best at or above the near threshold is the match.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main(sys.argv[1:])
