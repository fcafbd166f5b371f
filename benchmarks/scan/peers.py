"""The peer approach, imagededup's, run on the same images with a time and memory cap.

imagededup 0.3.3 (installed with --no-deps, see requirements.txt: its package imports torch,
torchvision and matplotlib at the top, so `Hashing.find_duplicates` itself cannot be imported
here) is driven the way its `HashEval` drives it:
- `bktree`: its `BKTree` (pure Python, recursive insertion), every image a query, tolerance 10
  (its default `max_distance_threshold`), the queries spread over a `Pool` with imap(chunksize
  100) exactly as `imagededup.utils.general_utils.parallelise` does;
- `brute_force_cython`: its default search on Linux (`BruteForceCython`, a C++ popcount loop
  that rebuilds the list of every file and hash in Python for each query), driven the same way;
- `dense`: its CNN path's `get_cosine_similarity` (an n×n similarity matrix: float64 up to
  10,000 images, float16 chunks stacked above that), run here on dupgate's SSCD embeddings at
  its default `min_similarity_threshold` 0.9.
The hashes are the images' 64-bit pHashes as dupgate stores them (imagehash's pHash, the same
DCT-of-32x32 algorithm as imagededup's PHash, which needs the torch import to be used).

Each run happens in a child process of its own process group, killed at the cap; the dense one
under an address-space limit, so that it fails with MemoryError instead of taking the machine.
"""

import multiprocessing
import os
import pickle
import resource
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HAMMING_TOLERANCE = 10  # imagededup's default max_distance_threshold
DENSE_THRESHOLD = 0.9  # imagededup's CNN default min_similarity_threshold
_DENSE_ALL_AT_ONCE = 10_000  # get_cosine_similarity's `threshold`
_DENSE_CHUNK = 1_000


def imagededup_hamming(hash1: str, hash2: str) -> Any:
    """imagededup.methods.hashing.Hashing.hamming_distance, verbatim (Apache-2.0).

    It returns a numpy integer, which its BKTree relies on (it builds a range from it).
    """
    hash1_bin = bin(int(hash1, 16))[2:].zfill(64)
    hash2_bin = bin(int(hash2, 16))[2:].zfill(64)
    return np.sum([i != j for i, j in zip(hash1_bin, hash2_bin, strict=False)])


def _searcher(data_tuple: tuple[str, str, Any, int]) -> list[tuple[str, int]]:
    """imagededup.handlers.search.retrieval.HashEval._searcher, verbatim."""
    query_key, query_val, search_method_object, thresh = data_tuple
    res = search_method_object.search(query=query_val, tol=thresh)
    return [i for i in res if i[0] != query_key]


@dataclass
class PeerRun:
    """How far a peer got: finished or not, times, and its duplicate pairs when it finished."""

    method: str
    finished: bool
    build_s: float | None  # building the tree or matrix
    seconds: float  # until it finished or was stopped
    queries_done: int
    queries: int
    pairs: list[tuple[int, int]] | None  # positions of images it calls duplicates
    error: str | None = None


def _hash_search(
    method: str,
    hashes: list[str],
    workers: int,
    done: Any,
    built: Any,
) -> list[tuple[int, int]]:
    from imagededup.handlers.search.bktree import BKTree
    from imagededup.handlers.search.brute_force_cython import BruteForceCython

    names = [str(i) for i in range(len(hashes))]
    hash_dict = dict(zip(names, hashes, strict=True))
    started = time.perf_counter()
    searcher = (BKTree if method == "bktree" else BruteForceCython)(hash_dict, imagededup_hamming)
    built.value = time.perf_counter() - started
    args = list(
        zip(names, hashes, [searcher] * len(names), [HAMMING_TOLERANCE] * len(names), strict=True)
    )
    pairs: list[tuple[int, int]] = []
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for query, found in enumerate(pool.imap(_searcher, args, 100)):
            pairs.extend((query, int(name)) for name, _ in found)
            done.value += 1
    return pairs


def _dense_search(embeddings: np.ndarray, done: Any, built: Any) -> list[tuple[int, int]]:
    """get_cosine_similarity, then each row's matches at or above the threshold."""
    started = time.perf_counter()
    x = embeddings.astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    if len(x) <= _DENSE_ALL_AT_ONCE:
        matrix = x @ x.T
    else:
        chunks = tuple(
            (x[i : i + _DENSE_CHUNK] @ x.T).astype("float16")
            for i in range(0, len(x), _DENSE_CHUNK)
        )
        matrix = np.vstack(chunks)
    built.value = time.perf_counter() - started
    pairs: list[tuple[int, int]] = []
    for row in range(len(matrix)):
        for other in np.flatnonzero(matrix[row] >= DENSE_THRESHOLD):
            if other != row:
                pairs.append((row, int(other)))
        done.value += 1
    return pairs


def _child(
    target: Callable[..., list[tuple[int, int]]],
    args: tuple[Any, ...],
    out: str,
    memory_limit: int | None,
) -> None:
    os.setpgrp()  # the pool's workers join this group, so the parent can stop them all
    if memory_limit:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    try:
        result: Any = target(*args)
    except MemoryError:
        result = "MemoryError"
    with open(out, "wb") as f:
        pickle.dump(result, f)


def run_peer(
    method: str,
    *,
    hashes: list[str],
    embeddings: np.ndarray,
    workers: int,
    cap_s: float,
    memory_limit: int | None = None,
) -> PeerRun:
    """Run one peer method on n images, stopping it after cap_s seconds."""
    context = multiprocessing.get_context("fork")
    done, built = context.Value("q", 0), context.Value("d", -1.0)
    out = Path(tempfile.mkstemp(prefix="dg-peer-", suffix=".pkl")[1])
    if method == "dense":
        target: Callable[..., list[tuple[int, int]]] = _dense_search
        args: tuple[Any, ...] = (embeddings, done, built)
    else:
        target, args = _hash_search, (method, hashes, workers, done, built)
    process = context.Process(target=_child, args=(target, args, str(out), memory_limit))
    started = time.perf_counter()
    process.start()
    process.join(cap_s)
    seconds = time.perf_counter() - started
    finished = not process.is_alive()
    if not finished and process.pid is not None:
        os.killpg(process.pid, signal.SIGKILL)
        process.join()
    result: Any = None
    if finished and out.stat().st_size:
        with out.open("rb") as f:
            result = pickle.load(f)
    out.unlink(missing_ok=True)
    error = result if isinstance(result, str) else None
    if finished and result is None:
        error = f"exited with {process.exitcode}"
    return PeerRun(
        method=method,
        finished=finished and error is None,
        build_s=built.value if built.value >= 0 else None,
        seconds=seconds,
        queries_done=done.value,
        queries=len(hashes),
        pairs=result if isinstance(result, list) else None,
        error=error,
    )
