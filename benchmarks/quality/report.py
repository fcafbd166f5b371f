"""The Markdown report: printed and written to RESULTS.md."""

import os
import platform
from collections.abc import Sequence

import numpy as np

from benchmarks.quality.evaluate import CLASSES, Summary, ThresholdRecall
from benchmarks.quality.extras import ExtraResult
from benchmarks.quality.margin import Margin
from benchmarks.quality.methods import LABELS, METHODS

METHOD_NOTES = [
    "- pHash: `imagehash.phash`, Hamming distance ≤ 10 of 64 bits. imagededup's `PHash` cannot "
    "be imported without torch and torchvision (`imagededup/methods/__init__.py` imports its CNN "
    "module), so this is imagehash's pHash, the same DCT-of-32x32 algorithm imagededup's mirrors; "
    "they differ in details (imagededup resizes before converting to grey, leaves the DC term out "
    "of the median and compares with ≥), so its numbers are close to, not equal to, imagededup's.",
    "- PDQ: `pdqhash` 0.2.8, distance ≤ 31 of 256 bits. *Dihedral* takes the minimum over the 8 "
    "rotations/flips of the query against the catalog photo's plain hash.",
    "- SSCD alone: cosine ≥ 0.75 of dupgate's global embedding (the same embedder, one view, no "
    "extra descriptors).",
]


def _pct(x: float) -> str:
    return "–" if np.isnan(x) else f"{100 * x:.1f}%"


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem = float("nan")
    import onnxruntime
    import PIL

    return (
        f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}, numpy {np.__version__}, "
        f"Pillow {PIL.__version__}, onnxruntime {onnxruntime.__version__}"
    )


def main_table(summaries: dict[str, Summary], timing: dict[str, float]) -> list[str]:
    header = [
        "method",
        *[f"recall {k}" for k in CLASSES],
        "exact copies tiered `exact`",
        "fresh falsely matched",
        "copies → wrong original",
        "ms/image (median)",
    ]
    rows = []
    for method in METHODS:
        s = summaries[method]
        tiered = "–"
        if s.exact_labelled is not None:
            n, total = s.exact_labelled
            tiered = f"{_pct(n / total if total else float('nan'))} ({n}/{total})"
        rows.append(
            [
                LABELS[method],
                *[f"{_pct(s.recall[k])} ({s.hits[k]}/{s.totals[k]})" for k in CLASSES],
                tiered,
                f"{s.fresh_false}/{s.fresh_total}",
                s.wrong,
                f"{timing[method]:.1f}",
            ]
        )
    return _table(header, rows)


def per_edit_table(summaries: dict[str, Summary], klass_of: dict[str, str]) -> list[str]:
    edits = list(klass_of)
    rows = []
    for edit in edits:
        cells = []
        for method in METHODS:
            hit, total = summaries[method].per_edit.get(edit, (0, 0))
            cells.append(f"{_pct(hit / total) if total else '–'}")
        n = summaries[METHODS[0]].per_edit.get(edit, (0, 0))[1]
        rows.append([f"{edit}", klass_of[edit], n, *cells])
    return _table(["edit", "class", "n", *[LABELS[m] for m in METHODS]], rows)


def tier_table(summary: Summary) -> list[str]:
    rows = []
    for klass in (*CLASSES, "fresh"):
        counts = summary.tiers.get(klass, {})
        total = sum(counts.values())
        rows.append(
            [klass, total, *(counts.get(t, 0) for t in ("exact", "near", "unique", "unreadable"))]
        )
    return _table(["class", "n", "exact", "near", "unique", "unreadable"], rows)


def threshold_table(rows: list[ThresholdRecall]) -> list[str]:
    return _table(
        ["near threshold just above", "value", *[f"recall {k}" for k in CLASSES], "fresh matched"],
        [
            [r.name, f"{r.above:.4f}", *[_pct(r.recall[k]) for k in CLASSES], r.fresh_false]
            for r in rows
        ],
    )


def sweep_table(rows: list[tuple[ThresholdRecall, float]]) -> list[str]:
    return _table(
        [
            "near threshold",
            *[f"recall {k}" for k in CLASSES],
            "fresh matched",
            "distinct pairs ≥ it, per million",
        ],
        [
            [r.name, *[_pct(r.recall[k]) for k in CLASSES], r.fresh_false, f"{per_million:.1f}"]
            for r, per_million in rows
        ],
    )


def timing_table(timing: dict[str, float]) -> list[str]:
    base = timing["decode + 1 SSCD inference"]
    names = ["dupgate", "decode + 1 SSCD inference", "phash", "pdq", "pdq_dihedral"]
    rows = [
        [
            LABELS.get(n, n),
            f"{timing[n]:.1f}",
            f"{timing[n + ' (mean)']:.1f}",
            f"{timing[n] / base:.2f}x",
        ]
        for n in names
    ]
    return _table(["analysis", "median ms/image", "mean ms/image", "vs decode + 1 SSCD"], rows)


def margin_section(margin: Margin, near: float, exact: float) -> list[str]:
    s = margin.scores
    lines = [
        f"All {margin.n_pairs:,} unordered pairs of the {margin.n_photos} distinct photos "
        "(each pair scored in both directions, the larger kept: either photo may be uploaded "
        "second).",
        "",
        *_table(
            ["statistic", "score"],
            [
                ["max", f"{s.max():.4f}"],
                ["99.99th percentile", f"{np.percentile(s, 99.99):.4f}"],
                ["99.9th percentile", f"{np.percentile(s, 99.9):.4f}"],
                ["99th percentile", f"{np.percentile(s, 99):.4f}"],
                ["median", f"{np.median(s):.4f}"],
                ["shipped near threshold", f"{near:.4f}"],
                ["shipped exact threshold", f"{exact:.4f}"],
                ["pairs ≥ near threshold", int((s >= near).sum())],
                ["margin: near threshold − max", f"{near - s.max():+.4f}"],
            ],
        ),
        "",
        "Top 10 pairs:",
        "",
        *_table(
            ["#", "score", "photo A", "photo B"],
            [[i + 1, f"{v:.4f}", a, b] for i, (v, a, b) in enumerate(margin.top)],
        ),
        "",
        f"The vectorised score agrees with `score()` to within {margin.check_max_error:.1e} on "
        f"{margin.check_pairs:,} pairs checked one by one (random pairs plus the 200 highest).",
    ]
    return lines


def extra_section(result: ExtraResult) -> list[str]:
    rows = [
        [q.label, q.expected or "(nothing)", *[result.answers[m][i] for m in METHODS]]
        for i, q in enumerate(result.queries)
    ]
    return [
        f"### {result.title}",
        "",
        *[f"- {n}" for n in result.notes],
        "",
        *_table(["query", "expected", *[LABELS[m] for m in METHODS]], rows),
        "",
        "Cells: best candidate (score, cosine or Hamming distance) when the method matches, "
        "`–` (best value) when it does not; ✓/✗ against the expected answer.",
        "",
    ]


def pdq_check_section(rows: list[tuple[str, str, str, int, int]]) -> list[str]:
    equal = sum(d == 0 for _, _, _, d, _ in rows)
    stored_equal = sum(s == 0 for *_, s in rows)
    worst = max(s for *_, s in rows)
    return [
        "### PDQ against the official hashes (`bridge-mods_expected_pdq.csv`)",
        "",
        f"pdqhash on Pillow's full decode (the PDQ peer): {equal} of {len(rows)} hashes are "
        "bit-identical; the rest differ by the distances below (Pillow's JPEG decoder is not the "
        "reference tool's, so a few bits near the median flip). The PDQ dupgate stores (computed "
        f"on its reduced-size decode): {stored_equal} of {len(rows)} bit-identical, at most "
        f"{worst} of 256 bits apart — well inside PDQ's match distance of 31, but not the "
        "bit-for-bit equality the reference tool gives.",
        "",
        *_table(
            ["file", "pdqhash distance", "dupgate distance", "pdqhash", "expected"],
            [[name, d, s, f"`{ours}`", f"`{exp}`"] for name, exp, ours, d, s in rows],
        ),
        "",
    ]
