"""The scan benchmark's collections: 10k real analysed images, and 100k / 1M derived from them.

10k (real): the 1,000 ImageNet photos of ../shared/datasets, each with 9 Pillow edits of it
(3 re-encodings, 6 visible edits), all analysed by dupgate: 1,000 true groups of 10.

100k and 1M (synthetic): 10 or 100 "worlds", each the 10k set with its embeddings and views
turned by a random orthogonal matrix of its own and its pHashes XORed with a random mask of its
own. Inside a world every score is the real one (rotations keep inner products, XOR keeps
Hamming distances); across worlds the embeddings are unrelated (cosines ~N(0, 1/512), unlike
real distinct photos, whose tail is heavier) and pHashes are random, so the true groups are the
10k set's, repeated: 10,000 or 100,000 groups of 10.
"""

import hashlib
import io
import os
import pickle
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps
from tqdm import tqdm

from dupgate.analysis import ANALYSIS_VERSION, Features, InvalidImage, analyze, load_embedder

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PHOTOS = ROOT.parent / "shared" / "datasets" / "imagenet-sample"
# Analysed features of the 10k set, outside the repository so that git never sees them.
CACHE = Path(os.environ.get("DUPGATE_SCAN_BENCH_CACHE", "/tmp/dupgate-scan-bench"))
EDITS_VERSION = 1


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _scaled(image: Image.Image, scale: float) -> Image.Image:
    size = (max(8, round(image.width * scale)), max(8, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def _caption(image: Image.Image) -> Image.Image:
    image = image.copy()
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(12, image.height // 9))
    draw.text(
        (image.width // 20, image.height * 2 // 3),
        "SALE -50% TODAY",
        font=font,
        fill=(255, 255, 0),
        stroke_width=2,
        stroke_fill=(0, 0, 0),
    )
    return image


def _meme(image: Image.Image) -> Image.Image:
    band = image.height // 4
    meme = Image.new("RGB", (image.width, image.height + 2 * band), "white")
    meme.paste(image, (0, band))
    draw = ImageDraw.Draw(meme)
    font = ImageFont.load_default(size=max(10, band // 3))
    draw.text((10, band // 4), "WHEN THE SCAN FINISHES", fill="black", font=font)
    draw.text((10, image.height + band + band // 4), "IN MINUTES", fill="black", font=font)
    return meme


def _crop(image: Image.Image, keep: float = 0.8) -> Image.Image:
    w, h = image.size
    cw, ch = round(w * keep), round(h * keep)
    return image.crop(((w - cw) // 2, (h - ch) // 2, (w - cw) // 2 + cw, (h - ch) // 2 + ch))


# name -> edit: the photo (RGB) to the copy's bytes. The first three only re-encode or resize.
EDITS: dict[str, Callable[[Image.Image], bytes]] = {
    "half_size": lambda im: _jpeg(_scaled(im, 0.5), 85),
    "jpeg_q40": lambda im: _jpeg(im, 40),
    "png_0.75": lambda im: _png(_scaled(im, 0.75)),
    "caption": lambda im: _jpeg(_caption(im)),
    "crop_80": lambda im: _jpeg(_crop(im)),
    "mirror": lambda im: _jpeg(ImageOps.mirror(im)),
    "brighter": lambda im: _jpeg(ImageEnhance.Brightness(im).enhance(1.3)),
    "framed": lambda im: _jpeg(ImageOps.expand(im, border=max(4, im.width // 12), fill="white")),
    "meme": lambda im: _jpeg(_meme(im)),
}


@dataclass(frozen=True)
class Item:
    """One image of the collection: its key, the photo it shows, its file size and features."""

    key: str
    source: str  # the ImageNet photo it was made from (its own name for an original)
    size: int
    features: Features


def _analysed(task: tuple[str, str | None]) -> tuple[str, str, int, bytes | None]:
    photo, edit = task
    path = PHOTOS / photo
    if edit is None:
        data = path.read_bytes()
    else:
        data = EDITS[edit](ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    key = photo if edit is None else f"{photo}~{edit}"
    try:
        features = analyze(data, load_embedder("onnx", threads=1))
    except InvalidImage:
        return key, photo, len(data), None
    return key, photo, len(data), features.to_bytes()


def real_collection(workers: int) -> list[Item]:
    """The 10k real images (1,000 photos and 9 edits of each), analysed once and cached."""
    cache = CACHE / f"real-v{ANALYSIS_VERSION}-e{EDITS_VERSION}.pkl"
    if cache.exists():
        with cache.open("rb") as f:
            rows = pickle.load(f)
    else:
        photos = sorted(p.name for p in PHOTOS.glob("*.JPEG"))
        if len(photos) != 1000:
            raise SystemExit(f"expected the 1,000 photos of {PHOTOS}, found {len(photos)}")
        tasks = [(p, None) for p in photos] + [(p, e) for p in photos for e in EDITS]
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            rows = list(
                tqdm(
                    pool.map(_analysed, tasks, chunksize=8),
                    total=len(tasks),
                    desc="analysing the 10k set",
                )
            )
        CACHE.mkdir(parents=True, exist_ok=True)
        with cache.with_suffix(".tmp").open("wb") as f:
            pickle.dump(rows, f, protocol=pickle.HIGHEST_PROTOCOL)
        cache.with_suffix(".tmp").replace(cache)
    return [
        Item(key, source, size, Features.from_bytes(data))
        for key, source, size, data in rows
        if data is not None
    ]


def synthetic_collection(real: list[Item], worlds: int, seed: int = 0) -> Iterator[Item]:
    """`worlds` rotated copies of the real set (see the module docstring); world 0 is the real set.

    The embeddings of world w > 0 are rows of one matrix per world, so a million images hold
    about 2 GB of embeddings rather than a million separate arrays.
    """
    rng = np.random.default_rng(seed)
    dim = real[0].features.embedding.shape[0]
    embeddings = np.stack([item.features.embedding for item in real])
    for world in range(worlds):
        if world == 0:
            yield from real
            continue
        rotation, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
        rotation = rotation.astype(np.float32)
        turned = embeddings @ rotation
        mask = int(rng.integers(0, 2**63)) | (int(rng.integers(0, 2)) << 63)
        for row, item in enumerate(real):
            f = item.features
            views = f.views @ rotation if len(f.views) else f.views
            sha = hashlib.sha256(f"{world}:{f.sha256}".encode()).hexdigest()
            yield Item(
                f"w{world}/{item.key}",
                f"w{world}/{item.source}",
                item.size,
                replace(f, sha256=sha, embedding=turned[row], views=views, phash=f.phash ^ mask),
            )
