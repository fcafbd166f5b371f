"""Duplicate groups of a whole collection or folder, from stored features and the index.

Every image asks the index for its nearest embeddings (its whole and its views, one batched,
multi-threaded query per few thousand images), so the cost grows with n·k, not n². A candidate
pair is scored with `dupgate.matching.score` in both directions and becomes an edge at or above
the threshold; groups are the connected components of the edges, as pixolution's dupe-scanner
does, instead of imagededup's all-pairs distance matrix.

Two shortcuts, both exact rather than approximate:
- Before the scalar score, a vectorised cosine decides which pairs could reach the threshold at
  all: apart from identical bytes, `score` reaches a threshold only from the SSCD cosine
  `min_cosine(threshold)` up (the exact band needs EXACT_MIN_COSINE, verification
  RETRIEVAL_FLOOR). So a pair whose best cosine, in either direction and with either side's
  views, lies below it is never scored one by one (tests/scans checks that bound).
- The index's perceptual-hash lookup is not used: it scans every hash for each query, which
  makes a scan quadratic, and it adds nothing an edge could need, since every edge needs that
  cosine anyway; an image whose copies crowd it out of another's nearest neighbours is still
  joined to the group through them.
"""

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components

from dupgate.analysis import Features
from dupgate.index.collection import EMBEDDING_CANDIDATES
from dupgate.matching.indexes import ImageIndex
from dupgate.matching.score import min_cosine, score, tier_of
from dupgate.vocabulary import Tier

# Each image is its own nearest neighbour, so ask for one more than the upload path does.
NEIGHBOURS = EMBEDDING_CANDIDATES + 1
# Images per batched index query, and candidate pairs per vectorised cosine step: large enough
# to amortise the calls, small enough to keep the index's lock and the memory short-lived.
_QUERY_BATCH = 4096
_PAIR_BATCH = 8192
# Float32 dot products here and in `score` may differ in the last bits.
_COSINE_SLACK = 1e-4
_VERIFY_REPORT_EVERY = 100  # pairs between calls of the `verifying` callback
# Pairs verified per batch of full features read, when the images carry light ones.
_VERIFY_BATCH = 2048
_NO_THUMB = np.zeros((0, 0, 3), dtype=np.uint8)


@dataclass(frozen=True)
class ScanImage:
    """An image to scan: its key (an image id or a file path), features and file facts."""

    key: str
    features: Features
    size: int  # bytes of the file, for the "least compressed" rule
    created_at: float  # unix seconds, for the "earliest" rule


@dataclass(frozen=True)
class Pair:
    """Two images of a group and their score (the higher of the two directions)."""

    a: str  # the two keys in sorted order
    b: str
    score: float
    tier: Tier  # exact or near


@dataclass(frozen=True)
class Group:
    """Images that duplicate one another, directly or through others, and the one to keep."""

    keeper: str
    keeper_rule: str  # which rule picked the keeper, in words a person reads
    images: tuple[str, ...]  # keeper first, then by their best score in the group
    pairs: tuple[Pair, ...]  # the scores at or above the threshold that joined them, best first

    def best_pairs(self) -> dict[str, Pair]:
        """Every image's highest-scoring pair, in one pass over the pairs."""
        best: dict[str, Pair] = {}
        for pair in self.pairs:  # best first
            best.setdefault(pair.a, pair)
            best.setdefault(pair.b, pair)
        return best


# Reads the full features of some scan images, for scans whose images carry light ones.
FullFeatures = Callable[[Sequence[ScanImage]], list[Features]]


def light(features: Features) -> Features:
    """The features a scan needs of every image at once: embeddings, hashes and size, without
    what only verifying a pair needs (local features, thumbnail), which is most of the bytes."""
    return replace(features, local=None, thumb=_NO_THUMB, preview=None)


def find_groups(
    images: Sequence[ScanImage],
    index: ImageIndex,
    *,
    threshold: float,
    exact: float,
    not_duplicates: Collection[frozenset[str]] = (),
    progress: Callable[[int], None] | None = None,
    verifying: Callable[[int, int], None] | None = None,
    full_features: FullFeatures | None = None,
) -> list[Group]:
    """The duplicate groups among `images`, biggest first, then by keeper.

    `index` holds every image under its key as image id, and may hold others, which are
    ignored. `not_duplicates` holds pairs of SHA-256s a person said are not duplicates: they
    never form an edge. `progress` is called with the number of images just queried, then
    `verifying` with (pairs scored so far, pairs to score) while candidate pairs are verified:
    on a catalog of look-alikes that is most of the time. Where the images carry `light`
    features, `full_features` reads the full ones of the pairs to verify, a batch at a time,
    so that a scan of a large collection never holds them all.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], not {threshold}")
    keys = [image.key for image in images]
    if len(set(keys)) != len(keys):
        raise ValueError("two scan images have the same key")
    if not images:
        return []
    candidates = _candidate_pairs(images, index, progress)
    candidates = np.union1d(candidates, _same_bytes_pairs(images))
    edges = _edges(images, candidates, threshold, not_duplicates, verifying, full_features)
    return _groups(images, edges, threshold, exact)


def _positions_of_labels(images: Sequence[ScanImage], index: ImageIndex) -> np.ndarray:
    """(2, n) int64: the sorted index labels of the images, and the position of each label."""
    labels = np.empty(len(images), dtype=np.int64)
    missing = []
    for position, image in enumerate(images):
        label = index.label_of(image.key)
        if label is None:
            missing.append(image.key)
        else:
            labels[position] = label
    if missing:
        raise ValueError(f"{len(missing)} scan images are not in the index, e.g. {missing[0]!r}")
    order = np.argsort(labels, kind="stable")
    return np.stack([labels[order], order])


def _query_vectors(images: Sequence[ScanImage]) -> tuple[np.ndarray, np.ndarray]:
    """Every image's whole embedding and views, and the position each vector belongs to."""
    vectors, owners = [], []
    for position, image in enumerate(images):
        f = image.features
        vectors.append(f.embedding.reshape(1, -1))
        if len(f.views):
            vectors.append(f.views.reshape(len(f.views), -1))
        owners.extend([position] * (1 + len(f.views)))
    return np.vstack(vectors).astype(np.float32, copy=False), np.asarray(owners, dtype=np.int64)


def _candidate_pairs(
    images: Sequence[ScanImage],
    index: ImageIndex,
    progress: Callable[[int], None] | None,
) -> np.ndarray:
    """Unordered candidate pairs as codes low * n + high, sorted and unique."""
    n = len(images)
    sorted_labels, position_of = _positions_of_labels(images, index)
    codes = []
    for start in range(0, n, _QUERY_BATCH):
        batch = images[start : start + _QUERY_BATCH]
        vectors, owners = _query_vectors(batch)
        owners += start
        labels, _ = index.nearest_many(vectors, NEIGHBOURS)
        if labels.shape[1]:
            # Labels of images outside the scan (the index may hold more) map to no position.
            slot = np.searchsorted(sorted_labels, labels).clip(0, n - 1)
            found = sorted_labels[slot] == labels
            neighbour = np.where(found, position_of[slot], -1)
            owner = np.broadcast_to(owners[:, None], neighbour.shape)
            keep = found & (neighbour != owner)
            low = np.minimum(owner[keep], neighbour[keep])
            high = np.maximum(owner[keep], neighbour[keep])
            codes.append(np.unique(low * n + high))
        if progress is not None:
            progress(len(batch))
    return np.unique(np.concatenate(codes)) if codes else np.zeros(0, dtype=np.int64)


def _same_bytes_pairs(images: Sequence[ScanImage]) -> np.ndarray:
    """Identical bytes are one picture whatever the index finds: chain each such set."""
    n = len(images)
    first: dict[str, int] = {}
    codes = []
    for position, image in enumerate(images):
        earlier = first.setdefault(image.features.sha256, position)
        if earlier != position:
            codes.append(earlier * n + position)
    return np.asarray(codes, dtype=np.int64)


def _best_cosines(images: Sequence[ScanImage], low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """For each pair, the best cosine of either side (whole or a view) to the other's whole."""
    embeddings = np.stack([image.features.embedding for image in images]).astype(
        np.float32, copy=False
    )
    view_rows: list[np.ndarray] = []
    view_start = np.full(len(images), -1, dtype=np.int64)
    view_count = np.zeros(len(images), dtype=np.int64)
    rows_so_far = 0
    for position, image in enumerate(images):
        image_views = image.features.views
        if len(image_views):
            view_start[position] = rows_so_far
            view_count[position] = len(image_views)
            view_rows.append(image_views.reshape(len(image_views), -1))
            rows_so_far += len(image_views)
    views = np.vstack(view_rows).astype(np.float32) if view_rows else None
    best = np.empty(len(low), dtype=np.float32)
    for start in range(0, len(low), _PAIR_BATCH):
        a, b = low[start : start + _PAIR_BATCH], high[start : start + _PAIR_BATCH]
        ea, eb = embeddings[a], embeddings[b]
        cos = np.einsum("ij,ij->i", ea, eb)
        if views is not None:
            for query, other_whole in ((a, eb), (b, ea)):
                for slot in range(int(view_count[query].max(initial=0))):
                    has = view_count[query] > slot
                    rows = view_start[query][has] + slot
                    view_cos = np.einsum("ij,ij->i", views[rows], other_whole[has])
                    cos[has] = np.maximum(cos[has], view_cos)
        best[start : start + len(a)] = cos
    return best


def _edges(
    images: Sequence[ScanImage],
    candidates: np.ndarray,
    threshold: float,
    not_duplicates: Collection[frozenset[str]],
    verifying: Callable[[int, int], None] | None = None,
    full_features: FullFeatures | None = None,
) -> list[tuple[int, int, float]]:
    """(low, high, score) of every candidate pair scoring at least the threshold."""
    n = len(images)
    low, high = candidates // n, candidates % n
    cos = _best_cosines(images, low, high)
    bytes_id: dict[str, int] = {}
    ids = np.fromiter(
        (bytes_id.setdefault(image.features.sha256, len(bytes_id)) for image in images),
        dtype=np.int64,
        count=n,
    )
    possible = (ids[low] == ids[high]) | (cos >= min_cosine(threshold) - _COSINE_SLACK)
    refused = set(not_duplicates)
    edges = []
    pairs = list(zip(low[possible].tolist(), high[possible].tolist(), strict=True))
    for start in range(0, len(pairs), _VERIFY_BATCH):
        batch = pairs[start : start + _VERIFY_BATCH]
        features = _features_of(images, batch, full_features)
        for done, (a, b) in enumerate(batch, start):
            if verifying is not None and done % _VERIFY_REPORT_EVERY == 0:
                verifying(done, len(pairs))
            fa, fb = features[a], features[b]
            if refused and frozenset((fa.sha256, fb.sha256)) in refused:
                continue
            value = max(score(fa, fb), score(fb, fa))
            if value >= threshold:
                edges.append((a, b, value))
    if verifying is not None:
        verifying(len(pairs), len(pairs))
    return edges


def _features_of(
    images: Sequence[ScanImage],
    pairs: list[tuple[int, int]],
    full_features: FullFeatures | None,
) -> dict[int, Features]:
    """The features to score these pairs with, by position: the images' own, or read in full."""
    positions = sorted({p for pair in pairs for p in pair})
    if full_features is None:
        return {p: images[p].features for p in positions}
    read = full_features([images[p] for p in positions])
    return dict(zip(positions, read, strict=True))


def _components(n: int, edges: list[tuple[int, int, float]]) -> list[int]:
    """Each position's connected component (a number) in the graph of the edges."""
    low = np.array([a for a, _, _ in edges], dtype=np.int64)
    high = np.array([b for _, b, _ in edges], dtype=np.int64)
    graph = coo_array((np.ones(len(edges), dtype=np.int8), (low, high)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return [int(label) for label in labels]


def _groups(
    images: Sequence[ScanImage],
    edges: list[tuple[int, int, float]],
    threshold: float,
    exact: float,
) -> list[Group]:
    """Connected components of the edges, each with its keeper and its pairs."""
    component = _components(len(images), edges)
    pairs: dict[int, list[Pair]] = {}
    best: dict[int, float] = {}
    for a, b, value in edges:
        first, second = sorted((images[a].key, images[b].key))
        pair = Pair(first, second, round(value, 4), tier_of(value, exact, threshold))
        pairs.setdefault(component[a], []).append(pair)
        for position in (a, b):
            best[position] = max(value, best.get(position, -1.0))
    members: dict[int, list[int]] = {}
    for position in best:
        members.setdefault(component[position], []).append(position)
    groups = []
    for root, positions in members.items():
        ranked = sorted(positions, key=lambda p: _keeper_order(images[p]))
        keeper, runner_up = images[ranked[0]], images[ranked[1]]
        rest = sorted(ranked[1:], key=lambda p: (-best[p], images[p].key))
        groups.append(
            Group(
                keeper=keeper.key,
                keeper_rule=keeper_rule(keeper, runner_up),
                images=(keeper.key, *(images[p].key for p in rest)),
                pairs=tuple(sorted(pairs[root], key=lambda p: (-p.score, p.a, p.b))),
            )
        )
    return sorted(groups, key=lambda g: (-len(g.images), g.keeper))


def _pixels(image: ScanImage) -> int:
    return image.features.width * image.features.height


def _bytes_per_pixel(image: ScanImage) -> float:
    return image.size / max(1, _pixels(image))


def _keeper_order(image: ScanImage) -> tuple[int, float, float, str]:
    """Largest first, then least compressed, then earliest, then by key."""
    return (-_pixels(image), -_bytes_per_pixel(image), image.created_at, image.key)


def keeper_rule(keeper: ScanImage, runner_up: ScanImage) -> str:
    """The first rule that put `keeper` before `runner_up`, in words a person reads."""
    k, r = keeper.features, runner_up.features
    if _pixels(keeper) != _pixels(runner_up):
        return f"largest: {k.width}×{k.height} px (next {r.width}×{r.height} px)"
    if _bytes_per_pixel(keeper) != _bytes_per_pixel(runner_up):
        return (
            f"least compressed: {_bytes_per_pixel(keeper):.2f} bytes/px at the same size "
            f"(next {_bytes_per_pixel(runner_up):.2f})"
        )
    if keeper.created_at != runner_up.created_at:
        first, second = _when(keeper.created_at), _when(runner_up.created_at)
        if first == second:
            first, second = _when(keeper.created_at, 3), _when(runner_up.created_at, 3)
        return f"earliest: {first} (next {second}), same size and bytes"
    return "first by name: same size, bytes and time"


def _when(timestamp: float, decimals: int = 0) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    text = moment.strftime("%Y-%m-%d %H:%M:%S.%f")[: 19 + (decimals and decimals + 1)]
    return f"{text} UTC"
