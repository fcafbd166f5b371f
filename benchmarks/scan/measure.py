"""The measurements of the scan benchmark: dupgate in a fresh process per size, then the peers."""

import json
import multiprocessing
import os
import platform
import resource
import shlex
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.scan import peers
from benchmarks.scan.dataset import Item, real_collection, synthetic_collection
from dupgate.matching.indexes import new_index
from dupgate.matching.score import DEFAULT_EXACT, DEFAULT_NEAR, min_cosine, score
from dupgate.scans import ScanImage, find_groups

REAL_SIZE = 10_000
# The dense peer runs under this address-space cap (the machine has 24 GiB).
DENSE_MEMORY_LIMIT = 16 * 2**30


def collection(size: int, workers: int) -> list[Item]:
    real = real_collection(workers)
    if size % len(real):
        raise SystemExit(f"sizes must be multiples of {len(real)}")
    return list(synthetic_collection(real, size // len(real)))


def components(n: int, pairs: Iterable[tuple[int, int]]) -> list[list[int]]:
    """Connected components of size >= 2 (union-find)."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for x in range(n):
        groups.setdefault(find(x), []).append(x)
    return [g for g in groups.values() if len(g) > 1]


def quality(items: Sequence[Item], groups: Sequence[Sequence[int]]) -> dict[str, Any]:
    """Copies grouped with their original, and groups that join different photos."""
    group_of = {}
    for number, group in enumerate(groups):
        for position in group:
            group_of[position] = number
    original = {item.source: p for p, item in enumerate(items) if item.key == item.source}
    copies = [p for p, item in enumerate(items) if item.key != item.source]
    found = {
        p
        for p in copies
        if p in group_of and group_of[p] == group_of.get(original[items[p].source], -1)
    }
    mixing = sum(1 for group in groups if len({items[p].source for p in group}) > 1)
    by_edit: dict[str, list[int]] = {}
    for p in copies:
        by_edit.setdefault(edit_of(items[p].key), []).append(p)
    return {
        "groups": len(groups),
        "copies_found": len(found) / max(1, len(copies)),
        "copies_found_by_edit": {
            edit: sum(p in found for p in ps) / len(ps) for edit, ps in sorted(by_edit.items())
        },
        "mixing": mixing,
    }


def edit_of(key: str) -> str:
    """The edit an image's key names ("original" for a photo itself)."""
    return key.rpartition("~")[2] if "~" in key else "original"


def all_pairs_groups(images: Sequence[ScanImage], threshold: float) -> list[list[int]]:
    """Groups from scoring every pair (n²), for checking the index's answer at 10k."""
    embeddings = np.stack([im.features.embedding for im in images])
    bound = min_cosine(threshold) - 1e-4
    edges = []
    for i, image in enumerate(images):
        f = image.features
        vectors = np.vstack([f.embedding[None], f.views.reshape(-1, f.embedding.shape[0])])
        # i's whole and views against every whole; j's views against i's whole are covered
        # when j is the query, and the pair's score is taken in both directions either way.
        cos = (vectors @ embeddings.T).max(axis=0)
        for j in np.flatnonzero(cos >= bound).tolist():
            if j != i:
                g = images[j].features
                if max(score(f, g), score(g, f)) >= threshold:
                    edges.append((i, int(j)))
    return components(len(images), edges)


def measure_dupgate(size: int, workers: int, threshold: float, out: str) -> None:
    """In a fresh process: build the index and scan; write the figures as JSON to `out`."""
    items = collection(size, workers)
    images = [
        ScanImage(item.key, item.features, item.size, float(p)) for p, item in enumerate(items)
    ]
    memory_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    started = time.perf_counter()
    index = new_index()
    index.add_many([(p, image.key, image.features) for p, image in enumerate(images)])
    built = time.perf_counter() - started
    started = time.perf_counter()
    groups = find_groups(images, index, threshold=threshold, exact=DEFAULT_EXACT)
    scanned = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    source = {item.key: item.source for item in items}
    cross = Counter(
        " + ".join(sorted(edit_of(key) for key in (p.a, p.b)))
        for g in groups
        for p in g.pairs
        if source[p.a] != source[p.b]
    )
    position = {image.key: p for p, image in enumerate(images)}
    as_positions = [[position[key] for key in g.images] for g in groups]
    result: dict[str, Any] = {
        "size": size,
        "threshold": threshold,
        "build_s": built,
        "scan_s": scanned,
        "peak_bytes": peak,
        "features_bytes": memory_before,
        "pairs": sum(len(g.pairs) for g in groups),
        "pairs_across_photos": dict(cross.most_common()),
        **quality(items, as_positions),
    }
    if size <= REAL_SIZE:
        started = time.perf_counter()
        exhaustive = all_pairs_groups(images, threshold)
        result["all_pairs_s"] = time.perf_counter() - started
        result["same_as_all_pairs"] = sorted(map(sorted, exhaustive)) == sorted(
            map(sorted, as_positions)
        )
    Path(out).write_text(json.dumps(result))


def run_dupgate(size: int, workers: int, threshold: float = DEFAULT_NEAR) -> dict[str, Any]:
    out = tempfile.mkstemp(prefix="dg-scan-bench-", suffix=".json")[1]
    process = multiprocessing.get_context("spawn").Process(
        target=measure_dupgate, args=(size, workers, threshold, out)
    )
    process.start()
    process.join()
    if process.exitcode != 0:
        raise SystemExit(f"the {size:,}-image run failed (exit {process.exitcode})")
    result: dict[str, Any] = json.loads(Path(out).read_text())
    os.unlink(out)
    return result


def run_peers(size: int, workers: int, cap_s: float) -> list[dict[str, Any]]:
    items = collection(size, workers)
    hashes = [f"{item.features.phash:016x}" for item in items]
    embeddings = np.stack([item.features.embedding for item in items])
    rows = []
    for method in ("brute_force_cython", "bktree", "dense"):
        print(f"  imagededup {method} on {size:,} images (cap {cap_s:.0f} s)", flush=True)
        run = peers.run_peer(
            method,
            hashes=hashes,
            embeddings=embeddings,
            workers=workers,
            cap_s=cap_s,
            memory_limit=DENSE_MEMORY_LIMIT if method == "dense" else None,
        )
        row: dict[str, Any] = {
            "method": method,
            "size": size,
            "finished": run.finished,
            "seconds": run.seconds,
            "build_s": run.build_s,
            "queries_done": run.queries_done,
            "error": run.error,
        }
        if run.pairs is not None:
            row.update(quality(items, components(len(items), run.pairs)))
        rows.append(row)
        print(f"    {json.dumps(row)}", flush=True)
    return rows


def seconds(value: float) -> str:
    if value < 60:
        return f"{value:.1f} s"
    if value < 3600:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def gib(value: float) -> str:
    return f"{value / 2**30:.1f} GiB"


def provenance(module: str) -> list[str]:
    """The report lines that say which command made it, when, and on what machine."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    memory = gib(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    return [
        f"Command: `{f'.venv/bin/python -m {module} {shlex.join(sys.argv[1:])}'.strip()}`  ",
        f"Run: {when} on {platform.machine()}, {os.cpu_count()} cores, {memory} memory, "
        f"Python {platform.python_version()}.",
    ]
