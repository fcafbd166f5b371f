"""The methods compared: dupgate's matcher and its peers, each as features plus a match rule.

Peers, at the thresholds their authors suggest:
  - pHash: imagehash.phash, Hamming distance <= 10 of 64 bits. imagededup's PHash cannot be
    imported without torch and torchvision (imagededup/methods/__init__.py imports its CNN
    module), so the benchmark uses imagehash's pHash, the same DCT-of-32x32 algorithm; the two
    differ in small details (imagededup resizes before converting to grey, takes the median
    without the DC term and compares with >=).
  - PDQ: pdqhash, distance <= 31 of 256 bits; "dihedral" takes the minimum over the 8
    rotations/flips of the query, against the catalog photo's plain hash.
  - SSCD alone: cosine >= 0.75 of dupgate's global embedding (the same embedder, one view).
"""

import io
import pickle
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path
from typing import TypeVar, cast

import imagehash
import numpy as np
import pdqhash
from PIL import Image
from tqdm import tqdm

import dupgate.index.collection as collection_index
from benchmarks.quality import dupgate_api as dg
from benchmarks.quality.paths import CACHE

PHASH_MAX_DISTANCE = 10
PDQ_MAX_DISTANCE = 31
SSCD_MIN_COSINE = 0.75
# Candidate generation for dupgate is the index's (index/collection.py): the nearest
# embeddings, every perceptual hash this close, and identical bytes; done by brute force here.
EMBEDDING_CANDIDATES = collection_index.EMBEDDING_CANDIDATES
PHASH_CANDIDATE_DISTANCE = collection_index.PHASH_CANDIDATE_DISTANCE

PEERS_VERSION = 1
METHODS = ("dupgate", "sscd", "phash", "pdq", "pdq_dihedral")
LABELS = {
    "dupgate": "dupgate",
    "sscd": "SSCD alone (cos>=0.75)",
    "phash": "pHash (imagehash, d<=10)",
    "pdq": "PDQ (d<=31)",
    "pdq_dihedral": "PDQ dihedral (d<=31)",
}


# --- features, cached per image (keyed by the file's SHA-256) ------------------------------------


@dataclass(frozen=True)
class PeerHashes:
    phash: int
    pdq: np.ndarray  # (8, 4) uint64: the 8 dihedral PDQ hashes, the plain one first
    pdq_quality: int


class FeatureCache:
    """A pickle of {key: features} for one method and code version, saved on demand."""

    def __init__(self, name: str) -> None:
        self.path = CACHE / "features" / f"{name}.pkl"
        self._data: dict[str, object] = {}
        if self.path.exists():
            with open(self.path, "rb") as f:
                self._data = pickle.load(f)
        self._dirty = False

    def get(self, key: str) -> object | None:
        return self._data.get(key)

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def put(self, key: str, value: object) -> None:
        self._data[key] = value
        self._dirty = True

    def save(self) -> None:
        if not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            pickle.dump(self._data, f, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(self.path)
        self._dirty = False


def file_key(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """pdqhash's 256 0/1 values as 4 uint64 words, for XOR-and-popcount distances."""
    return np.packbits(bits.astype(np.uint8)).view(">u8").astype(np.uint64)


def decode_rgb(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    return img.convert("RGB")


def phash_of(img: Image.Image) -> int:
    return int(str(imagehash.phash(img)), 16)


def peer_hashes(path: Path) -> PeerHashes | None:
    """pHash and the 8 dihedral PDQ hashes of one file; None when it does not decode."""
    try:
        img = decode_rgb(path.read_bytes())
    except Exception:  # noqa: BLE001 - a copy the peers cannot decode is a miss, not a crash
        return None
    hashes, quality = pdqhash.compute_dihedral(np.asarray(img))
    return PeerHashes(phash_of(img), np.stack([pack_bits(h) for h in hashes]), int(quality))


def _keyed_peer_hashes(path: Path) -> tuple[str, PeerHashes | None]:
    return file_key(path), peer_hashes(path)


def compute_peer_hashes(paths: Sequence[Path], workers: int) -> dict[Path, PeerHashes | None]:
    """Peer hashes of every path, from the cache or computed on `workers` processes."""
    cache = FeatureCache(f"peers-v{PEERS_VERSION}")
    keys = {p: file_key(p) for p in paths}
    todo = sorted({p for p in paths if keys[p] not in cache})
    if todo:
        with Pool(workers) as pool:
            for key, hashes in tqdm(
                pool.imap_unordered(_keyed_peer_hashes, todo, chunksize=8),
                total=len(todo),
                desc="peer hashes",
            ):
                cache.put(key, hashes)
        cache.save()
    return {p: cache.get(keys[p]) for p in paths}  # type: ignore[misc]


def compute_dupgate_features(
    paths: Sequence[Path], embedder: dg.Embedder
) -> dict[Path, dg.Features | None]:
    """dupgate's Features of every path (None for bytes it refuses), from the cache or analysed."""
    cache = FeatureCache(f"dupgate-{dg.source_fingerprint()}")
    keys = {p: file_key(p) for p in paths}
    todo = sorted({p for p in paths if keys[p] not in cache})
    for i, path in enumerate(tqdm(todo, desc="analyse (dupgate)")):
        try:
            features = dg.analyze(path.read_bytes(), embedder)
        except dg.InvalidImage:
            features = None
        cache.put(keys[path], features)
        if i % 200 == 199:
            cache.save()  # an interrupted run keeps most of its work
    cache.save()
    # The cache holds what analyze() returned for each key: Features, or None.
    return {p: cast("dg.Features | None", cache.get(keys[p])) for p in paths}


T = TypeVar("T")


def every_known(values: Iterable[T | None], what: str) -> list[T]:
    """Values that must all be there (the catalog's features or hashes): a catalog photo that
    could not be analysed would otherwise be silently matched as nothing."""
    values = list(values)
    known = [v for v in values if v is not None]
    if len(known) != len(values):
        raise ValueError(f"{len(values) - len(known)} {what} could not be analysed")
    return known


# --- matching a query against the catalog --------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What a method answered for one query."""

    best: int | None  # catalog index of the best candidate, whether it passes or not
    value: float  # that candidate's score, cosine or Hamming distance
    matched: bool  # whether it passes the method's threshold
    tier: str | None = None  # dupgate only: exact|near|unique


NO_ANSWER = Outcome(None, float("nan"), False)


def _hamming(query: np.ndarray, catalog: np.ndarray) -> np.ndarray:
    """Distances from one packed hash (words,) or several (k, words) to each catalog hash."""
    if query.ndim == 1:
        return np.bitwise_count(catalog ^ query).sum(axis=-1)
    return np.bitwise_count(catalog[None, :, :] ^ query[:, None, :]).sum(axis=-1).min(axis=0)


def _by_distance(distances: np.ndarray, limit: int) -> Outcome:
    best = int(np.argmin(distances))
    value = int(distances[best])
    return Outcome(best, float(value), value <= limit)


def match_hashes(
    method: str, queries: Iterable[PeerHashes | None], catalog: Sequence[PeerHashes]
) -> list[Outcome]:
    """pHash, PDQ or PDQ dihedral outcomes of each query against the catalog."""
    if method == "phash":
        table = np.array([c.phash for c in catalog], dtype=np.uint64)[:, None]
        return [
            NO_ANSWER
            if q is None
            else _by_distance(_hamming(np.array([q.phash], np.uint64), table), PHASH_MAX_DISTANCE)
            for q in queries
        ]
    table = np.stack([c.pdq[0] for c in catalog])
    dihedral = method == "pdq_dihedral"
    return [
        NO_ANSWER
        if q is None
        else _by_distance(_hamming(q.pdq if dihedral else q.pdq[0], table), PDQ_MAX_DISTANCE)
        for q in queries
    ]


def match_sscd(
    queries: Iterable[dg.Features | None], catalog: Sequence[dg.Features]
) -> list[Outcome]:
    """SSCD alone: the best cosine of the query's global embedding."""
    table = np.stack([c.embedding for c in catalog])
    out = []
    for q in queries:
        if q is None:
            out.append(NO_ANSWER)
            continue
        cos = table @ q.embedding
        best = int(np.argmax(cos))
        out.append(Outcome(best, float(cos[best]), bool(cos[best] >= SSCD_MIN_COSINE)))
    return out


class DupgateCatalog:
    """The catalog as dupgate's gatekeeper sees it, with brute-force candidate generation."""

    def __init__(self, catalog: Sequence[dg.Features]) -> None:
        self.features = list(catalog)
        self.embeddings = np.stack([c.embedding for c in catalog]).astype(np.float32)
        self.phashes = np.array([c.phash for c in catalog], dtype=np.uint64)
        self.by_sha: dict[str, list[int]] = {}
        for i, c in enumerate(catalog):
            self.by_sha.setdefault(c.sha256, []).append(i)

    def candidates(self, query: dg.Features) -> set[int]:
        """Top-k by the best of the query's embedding and views, close pHashes, same bytes."""
        vectors = np.vstack([query.embedding[None], query.views])
        best_sim = (vectors @ self.embeddings.T).max(axis=0)
        k = min(EMBEDDING_CANDIDATES, len(best_sim))
        found = set(np.argpartition(-best_sim, k - 1)[:k].tolist())
        close = np.bitwise_count(self.phashes ^ np.uint64(query.phash)) <= PHASH_CANDIDATE_DISTANCE
        found.update(np.flatnonzero(close).tolist())
        found.update(self.by_sha.get(query.sha256, []))
        return found

    def check(self, query: dg.Features | None, exact: float, near: float) -> Outcome:
        """The best-scoring candidate, and whether and how dupgate would flag it."""
        if query is None:
            return NO_ANSWER
        scored = sorted(
            ((dg.score(query, self.features[i]), i) for i in self.candidates(query)),
            key=lambda t: (-t[0], t[1]),
        )
        value, best = scored[0]
        tier = dg.tier_of(value, exact, near)
        return Outcome(best, float(value), tier != "unique", tier)


def match_dupgate(
    queries: Iterable[dg.Features | None],
    catalog: Sequence[dg.Features],
    exact: float,
    near: float,
) -> list[Outcome]:
    index = DupgateCatalog(catalog)
    return [index.check(q, exact, near) for q in queries]
