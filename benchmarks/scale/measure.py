"""The measurements, each in a fresh process of its own (so that its peak memory is its own).

- `measure_backend`: a worker's decisions on one backend. The registry is dupgate's own
  (`IndexRegistry(backend)`), wrapped only to time and record each `candidates()` call that
  `find_duplicates` makes: the wrapper calls the real index and changes nothing.
- `exact_candidates`: what exact search would propose: numpy brute force (float32 inner
  product) over all N embeddings, the top 20 of the query's whole picture and of each view.
"""

import gc
import json
import os
import pickle
import resource
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import event
from sqlalchemy.orm import Session

from benchmarks.scale.data import COLLECTION, Query, collection_embeddings, image_id, real_set
from dupgate.analysis import Features
from dupgate.index.collection import EMBEDDING_CANDIDATES, CollectionIndex
from dupgate.index.embeddings import EXACT_SEARCH_MAX, HNSW_EF
from dupgate.matching.indexes import ImageIndex, IndexBackend, IndexedImage
from dupgate.matching.pgvector import load_features
from dupgate.matching.policy import decide
from dupgate.matching.registry import IndexRegistry
from dupgate.store import vectors
from dupgate.store.db import get_engine, get_sessionmaker
from dupgate.store.locking import lock_with_checked
from dupgate.tenancy.collections import policy_of
from dupgate.uploads.duplicates import describe_matches, find_duplicates


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def rss_now() -> int:
    """Resident memory of this process now, in bytes."""
    return _status("VmRSS")


def rss_peak() -> int:
    """The most resident memory this process has had, in bytes.

    VmHWM, not `getrusage().ru_maxrss`: a spawned process is forked from the parent before it
    execs Python afresh, and Linux carries the forked copy's high-water mark (the parent's
    resident memory, ~1 GB here: the real set) into ru_maxrss; VmHWM is the new image's own.
    """
    return _status("VmHWM")


def rss_maxrss() -> int:
    """`getrusage().ru_maxrss`, for the record (see rss_peak)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def save_queries(path: Path, measured: Sequence[Query], warmup: Sequence[Query]) -> None:
    rows = {
        name: [(q.key, q.edit, q.features.to_bytes(), q.original) for q in group]
        for name, group in (("measured", measured), ("warmup", warmup))
    }
    path.write_bytes(pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL))


def load_queries(path: Path) -> dict[str, list[Query]]:
    rows = pickle.loads(path.read_bytes())
    return {
        name: [Query(k, e, Features.from_bytes(d), o) for k, e, d, o in group]
        for name, group in rows.items()
    }


class Recorded:
    """An index, as the registry gave it, whose `candidates()` calls are timed and recorded."""

    def __init__(self, index: ImageIndex, calls: list[tuple[float, list[str]]]) -> None:
        self._index = index
        self._calls = calls

    def __len__(self) -> int:
        return len(self._index)

    def candidates(self, query: Features, k: int = EMBEDDING_CANDIDATES) -> Sequence[IndexedImage]:
        started = time.perf_counter()
        found = self._index.candidates(query, k)
        self._calls.append((time.perf_counter() - started, [e.image_id for e in found]))
        return found

    def label_of(self, image_id: str) -> int | None:
        return self._index.label_of(image_id)

    def labelled(self, image_ids: Sequence[str]) -> dict[str, tuple[int, Features]]:
        return self._index.labelled(image_ids)

    def entry(self, label: int) -> IndexedImage:
        return self._index.entry(label)

    def nearest_many(
        self, vectors: np.ndarray, k: int, *, num_threads: int = -1
    ) -> tuple[np.ndarray, np.ndarray]:
        return self._index.nearest_many(vectors, k, num_threads=num_threads)


class RecordingRegistry(IndexRegistry):
    """dupgate's registry; the collection's image index comes back wrapped in `Recorded`."""

    def __init__(self, backend: IndexBackend) -> None:
        super().__init__(backend)
        self.calls: list[tuple[float, list[str]]] = []

    def synced(self, session: Session, collection: str, kind: str = "images") -> ImageIndex:
        index = super().synced(session, collection, kind)
        return Recorded(index, self.calls) if kind == "images" else index


def decision(
    session: Session, registry: IndexRegistry, features: Features
) -> tuple[float, list[tuple[str, str]]]:
    """A worker's decision of an upload, in one transaction that is rolled back, not committed:
    the collection lock, `find_duplicates` (its images and its blocklist), the policy and the
    matches' description, as `decide_upload` does before `commit_decision` writes anything.
    """
    started = time.perf_counter()
    try:
        collection = lock_with_checked(session, COLLECTION)[COLLECTION]
        found = find_duplicates(session, registry, collection, features)
        decide(found.matches, policy_of(collection), found.blocked)
        describe_matches(session, found.matches)
    finally:
        session.rollback()
    return time.perf_counter() - started, [(m.image_id, str(m.tier)) for m in found.matches]


def measure_backend(
    backend: IndexBackend, url: str, size: int, queries_file: str, passes: int, out: str
) -> None:
    """In a fresh process: a worker's decisions on this backend; figures as JSON to `out`."""
    groups = load_queries(Path(queries_file))
    maker = get_sessionmaker(url)
    registry = RecordingRegistry(backend)
    result: dict[str, Any] = {
        "backend": backend,
        "size": size,
        "rss_start": rss_now(),
        "loadavg_start": os.getloadavg(),
    }
    if backend == "hnswlib":
        # A new worker's first use of the collection: replay the whole change log.
        with maker() as session:
            started = time.perf_counter()
            index = registry.synced(session, COLLECTION)
            result["replay_s"] = time.perf_counter() - started
            result["indexed"] = len(index)
            session.rollback()
        result["rss_after_replay"] = rss_now()
        result["peak_after_replay"] = rss_peak()
    with maker() as session:
        result["first_decision_s"], _ = decision(session, registry, groups["warmup"][0].features)
        for query in groups["warmup"][1:]:
            decision(session, registry, query.features)
    result["rss_before_queries"] = rss_now()
    registry.calls.clear()
    result["passes"] = []
    for number in range(passes):
        times, matched = [], []
        with maker() as session:
            for query in groups["measured"]:
                elapsed, matches = decision(session, registry, query.features)
                times.append(elapsed)
                matched.append(matches)
        calls = registry.calls[:]
        registry.calls.clear()
        assert len(calls) == len(times), "one candidates() call per decision"
        result["passes"].append(
            {
                "decision_s": times,
                "candidates_s": [t for t, _ in calls],
                "candidates": [ids for _, ids in calls] if number == 0 else None,
                "matches": matched if number == 0 else None,
            }
        )
        print(f"    {backend} pass {number + 1}: p50 {np.median(times) * 1000:.0f} ms", flush=True)
    result["rss_after_queries"] = rss_now()
    result["peak"] = rss_peak()
    result["ru_maxrss"] = rss_maxrss()
    result["loadavg_end"] = os.getloadavg()
    if backend == "pgvector":
        result["diagnostics"] = diagnose(url, groups["measured"])
    Path(out).write_text(json.dumps(result))


def diagnose(url: str, queries: Sequence[Query]) -> dict[str, Any]:
    """After the timed passes: the pieces of pgvector's `candidates()` timed one by one (with
    dupgate.store.vectors' own functions), and the query plans of one decision's statements."""
    maker = get_sessionmaker(url)
    pieces: dict[str, list[float]] = {"count": [], "same_hashes": [], "nearest": [], "load": []}
    for query in queries:
        f = query.features
        with maker() as session:
            started = time.perf_counter()
            vectors.count_entries(session, COLLECTION, "images", EXACT_SEARCH_MAX + 1)
            pieces["count"].append(time.perf_counter() - started)
            started = time.perf_counter()
            hashed = vectors.same_hashes(session, COLLECTION, "images", f.sha256, f.phash)
            pieces["same_hashes"].append(time.perf_counter() - started)
            queries_ = np.vstack([f.embedding[None], f.views.reshape(-1, f.embedding.shape[0])])
            started = time.perf_counter()
            found = vectors.nearest(
                session,
                COLLECTION,
                "images",
                queries_,
                EMBEDDING_CANDIDATES,
                exact=False,
                ef_search=HNSW_EF,
            )
            pieces["nearest"].append(time.perf_counter() - started)
            shas = {sha for _, _, sha in hashed} | {n[2] for ns in found for n in ns}
            started = time.perf_counter()
            load_features(session, shas)
            pieces["load"].append(time.perf_counter() - started)
            session.rollback()
    return {"pieces_s": pieces, "plans": plans(url, queries[0].features)}


def plans(url: str, features: Features) -> list[dict[str, Any]]:
    """EXPLAIN (ANALYZE, BUFFERS, SERIALIZE) of each SELECT that one `candidates()` call sends, with the
    statement and parameters it sent (captured at the cursor), after its SET LOCALs."""
    engine = get_engine(url)
    sent: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    registry = IndexRegistry("pgvector")
    with get_sessionmaker(url)() as session:
        index = registry.synced(session, COLLECTION)
        event.listen(engine, "before_cursor_execute", capture)
        try:
            index.candidates(features)
        finally:
            event.remove(engine, "before_cursor_execute", capture)
        session.rollback()
    out = []
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            for statement, parameters in sent:
                if statement.lstrip().upper().startswith("SET"):
                    conn.exec_driver_sql(statement, parameters or {})
                    out.append({"statement": statement, "plan": None})
                    continue
                rows = conn.exec_driver_sql(
                    "EXPLAIN (ANALYZE, BUFFERS, SERIALIZE) " + statement, parameters or {}
                ).all()
                out.append(
                    {
                        "statement": statement,
                        "parameters": _short(parameters),
                        "plan": "\n".join(r[0] for r in rows),
                    }
                )
        finally:
            transaction.rollback()
    return out


def _short(parameters: Any) -> Any:
    """Parameters for the report, with long vectors cut short."""
    if isinstance(parameters, dict):
        shown = {k: _short(v) for k, v in list(parameters.items())[:4]}
        return shown | ({"...": f"{len(parameters) - 4} more"} if len(parameters) > 4 else {})
    if isinstance(parameters, list | tuple):
        return [_short(v) for v in parameters[:3]] + (["..."] if len(parameters) > 3 else [])
    if isinstance(parameters, str) and len(parameters) > 60:
        return parameters[:60] + "..."
    return parameters


def exact_candidates(size: int, workers: int, queries_file: str, k: int, out: str) -> None:
    """In a fresh process: exact search's candidates for each measured query; JSON to `out`."""
    queries = load_queries(Path(queries_file))["measured"]
    real = real_set(workers)
    started = time.perf_counter()
    embeddings = collection_embeddings(real, size)
    made = time.perf_counter() - started
    owner, rows = [], []
    for number, query in enumerate(queries):
        f = query.features
        for vector in np.vstack([f.embedding[None], f.views.reshape(-1, f.embedding.shape[0])]):
            owner.append(number)
            rows.append(vector)
    vectors_ = np.stack(rows).astype(np.float32)
    best_scores = np.full((len(vectors_), k), -np.inf, dtype=np.float32)
    best_rows = np.full((len(vectors_), k), -1, dtype=np.int64)
    started = time.perf_counter()
    block = 50_000
    for first in range(0, size, block):
        scores = vectors_ @ embeddings[first : first + block].T
        take = min(k, scores.shape[1])
        top = np.argpartition(-scores, take - 1, axis=1)[:, :take]
        merged_scores = np.concatenate(
            [best_scores, np.take_along_axis(scores, top, axis=1)], axis=1
        )
        merged_rows = np.concatenate([best_rows, top + first], axis=1)
        keep = np.argsort(-merged_scores, axis=1, kind="stable")[:, :k]
        best_scores = np.take_along_axis(merged_scores, keep, axis=1)
        best_rows = np.take_along_axis(merged_rows, keep, axis=1)
    searched = time.perf_counter() - started
    original_shas = {item.features.sha256 for item in real.originals}
    per_query: list[dict[str, Any]] = [
        {
            "key": q.key,
            "edit": q.edit,
            "original": image_id(q.original),
            "candidates": set(),
            "original_cosine": -1.0,
            "original_rank": None,
        }
        for q in queries
    ]
    for row, number in enumerate(owner):
        entry = per_query[number]
        entry["candidates"] |= {image_id(int(p)) for p in best_rows[row]}
        cosine = float(vectors_[row] @ embeddings[queries[number].original])
        if cosine > entry["original_cosine"]:
            entry["original_cosine"] = cosine
        ranks = np.flatnonzero(best_rows[row] == queries[number].original)
        if len(ranks) and (entry["original_rank"] is None or ranks[0] < entry["original_rank"]):
            entry["original_rank"] = int(ranks[0]) + 1
    for number, query in enumerate(queries):
        if query.features.sha256 in original_shas:  # same bytes (never: every copy is edited)
            per_query[number]["candidates"].add(image_id(query.original))
        per_query[number]["candidates"] = sorted(per_query[number]["candidates"])
    Path(out).write_text(
        json.dumps(
            {
                "size": size,
                "k": k,
                "embeddings_s": made,
                "search_s": searched,
                "queries": per_query,
                "kth_cosine": [float(s[-1]) for s in best_scores],
            }
        )
    )


@dataclass(frozen=True)
class Hashed:
    """What dupgate's CollectionIndex reads of an image: its hashes and embedding, no more."""

    sha256: str
    phash: int
    embedding: np.ndarray
    views: np.ndarray


def measure_hnswlib_index(
    url: str, size: int, workers: int, queries_file: str, passes: int, out: str
) -> None:
    """In a fresh process: the hnswlib backend's index alone, where a whole worker does not fit.

    dupgate's own `CollectionIndex` (the structure `IndexRegistry("hnswlib")` fills, with the
    same hnswlib parameters) over the same images in the same order, given only what it
    indexes (SHA-256, pHash, float32 embedding) instead of each image's full stored features,
    then asked `candidates()` for each query. No decision: verification needs the features.
    """
    queries = load_queries(Path(queries_file))["measured"]
    result: dict[str, Any] = {
        "backend": "hnswlib-index",
        "size": size,
        "rss_start": rss_now(),
        "loadavg_start": os.getloadavg(),
    }
    real = real_set(workers)
    embeddings = collection_embeddings(real, size)
    del real
    with get_engine(url).connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT image_id, sha256, phash FROM index_entries"
            " WHERE collection = %(c)s AND kind = 'images' ORDER BY label",
            {"c": COLLECTION},
        ).all()
    gc.collect()
    no_views = np.empty((0, embeddings.shape[1]), dtype=np.float32)
    images = []
    for label, (image, sha256, phash) in enumerate(rows, start=1):
        position = uuid.UUID(image).int - 1
        images.append((label, image, Hashed(sha256, phash % 2**64, embeddings[position], no_views)))
    del rows
    gc.collect()
    result["rss_before_build"] = rss_now()
    index = CollectionIndex[Hashed]()
    started = time.perf_counter()
    index.add_many(images)
    result["build_s"] = time.perf_counter() - started
    result["rss_after_build"] = rss_now()
    del images
    result["passes"] = []
    for number in range(passes):
        times, found = [], []
        for query in queries:
            started = time.perf_counter()
            candidates = index.candidates(query.features)
            times.append(time.perf_counter() - started)
            found.append([e.image_id for e in candidates])
        result["passes"].append(
            {"candidates_s": times, "candidates": found if number == 0 else None}
        )
        print(
            f"    hnswlib-index pass {number + 1}: p50 {np.median(times) * 1000:.1f} ms", flush=True
        )
    result["rss_after_queries"] = rss_now()
    result["peak"] = rss_peak()
    result["loadavg_end"] = os.getloadavg()
    Path(out).write_text(json.dumps(result))
