"""An image's features, computed once per upload, and their compact storage form."""

import hashlib
import json
import struct
from dataclasses import dataclass

import numpy as np
from PIL import Image

from dupgate.analysis.decode import decode
from dupgate.analysis.embedding import INPUT_SIZE, Embedder
from dupgate.analysis.hashes import THUMB_SIZE, pdq, phash, thumbnail
from dupgate.analysis.local import LocalFeatures, local_features
from dupgate.analysis.preview import preview_jpeg
from dupgate.analysis.views import Box, framed_in, framed_view

# Bump whenever a signal changes meaning: stored features of another version are recomputed.
# 2: local features for verification (dupgate/analysis/local.py).
# 3: the photo on a flat UI page is the view (dupgate/analysis/views.py).
ANALYSIS_VERSION = 3

_MAGIC = b"DGF"
_HEAD = struct.Struct("<3sHI")  # magic, format version, length of the JSON header
# Format 2 appends the local features; format 1 (analysis version 1) has none.
_FORMAT = 2


@dataclass(frozen=True, eq=False)
class Features:
    """Every signal of one image; `views` are only used when the image is the query."""

    version: int
    sha256: str
    width: int  # original size, after EXIF orientation
    height: int
    format: str
    phash: int  # imagehash pHash, unsigned 64-bit
    embedding: np.ndarray  # (512,) float32, L2-normalised SSCD of the whole picture
    views: np.ndarray  # (k, 512) float32, L2-normalised SSCD of query-side crops; k = 0 or 1
    thumb: np.ndarray  # (32, 32, 3) uint8 thumbnail, aspect ignored
    pdq: bytes  # 32-byte PDQ hash of the upright picture
    pdq_quality: int
    local: LocalFeatures | None = None  # None only in features stored by analysis version 1
    # A small JPEG for people (dupgate.analysis.preview), made in the same pass. Not part of
    # the stored features: it is kept as a blob by the bytes' SHA-256.
    preview: bytes | None = None

    def to_bytes(self) -> bytes:
        """Compact, versioned encoding: a JSON header, then the raw little-endian arrays."""
        header = json.dumps(
            {
                "version": self.version,
                "sha256": self.sha256,
                "width": self.width,
                "height": self.height,
                "format": self.format,
                "phash": f"{self.phash:016x}",
                "pdq": self.pdq.hex(),
                "pdq_quality": self.pdq_quality,
                "dim": int(self.embedding.shape[0]),
                "views": int(self.views.shape[0]),
                "thumb": THUMB_SIZE,
                "local": self.local is not None,
            },
            separators=(",", ":"),
        ).encode()
        return b"".join(
            [
                _HEAD.pack(_MAGIC, _FORMAT, len(header)),
                header,
                self.embedding.astype("<f4").tobytes(),
                self.views.astype("<f4").tobytes(),
                self.thumb.astype(np.uint8).tobytes(),
                self.local.to_bytes() if self.local is not None else b"",
            ]
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> "Features":
        """The Features that to_bytes wrote; ValueError if the bytes are not that."""
        if len(data) < _HEAD.size:
            raise ValueError("not dupgate features: too short")
        magic, fmt_version, header_length = _HEAD.unpack_from(data)
        if magic != _MAGIC or fmt_version not in (1, _FORMAT):
            raise ValueError(f"not dupgate features (magic {magic!r}, format {fmt_version})")
        start = _HEAD.size + header_length
        h = json.loads(data[_HEAD.size : start])
        dim, k, side = h["dim"], h["views"], h["thumb"]
        sizes = [dim * 4, k * dim * 4, side * side * 3]
        end = start + sum(sizes)
        has_local = bool(h.get("local", False))
        if len(data) < end or (len(data) > end and not has_local):
            raise ValueError("dupgate features of the wrong length")
        embedding = np.frombuffer(data, "<f4", dim, start).astype(np.float32)
        views = np.frombuffer(data, "<f4", k * dim, start + sizes[0]).astype(np.float32)
        thumb = np.frombuffer(data, np.uint8, sizes[2], start + sizes[0] + sizes[1])
        return cls(
            version=h["version"],
            sha256=h["sha256"],
            width=h["width"],
            height=h["height"],
            format=h["format"],
            phash=int(h["phash"], 16),
            embedding=embedding,
            views=views.reshape(k, dim),
            thumb=thumb.reshape(side, side, 3).copy(),
            pdq=bytes.fromhex(h["pdq"]),
            pdq_quality=h["pdq_quality"],
            local=LocalFeatures.from_bytes(data[end:]) if has_local else None,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Features):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()

    __hash__ = None  # type: ignore[assignment]


def analyze(data: bytes, embedder: Embedder, *, max_pixels: int = 64_000_000) -> Features:
    """Decode once and compute every signal. Raises InvalidImage for bytes that are not an image."""
    decoded = decode(data, max_pixels=max_pixels)
    return analyze_pictures(
        [decoded.picture],
        [hashlib.sha256(data).hexdigest()],
        embedder,
        width=decoded.width,
        height=decoded.height,
        format=decoded.format,
    )[0]


def analyze_pictures(
    pictures: list[Image.Image],
    sha256s: list[str],
    embedder: Embedder,
    *,
    width: int,
    height: int,
    format: str,
    previews: bool = True,
    box: Box | None = None,
) -> list[Features]:
    """Every signal of decoded pictures (an image, or a video's frames), embedded in one batch.

    `box`: the content box all the pictures share (a video's bars do not move), found once by
    the caller instead of in each picture. Such framed pictures are embedded once, by their
    content: the bars are the same in every frame and say nothing of what the video shows.
    """
    if box is None:
        framed = [framed_view(picture) for picture in pictures]
    else:
        framed = [framed_in(picture, box) for picture in pictures]
    content_only = box is not None
    batch: list[Image.Image] = []
    for picture, (_, view) in zip(pictures, framed, strict=True):
        if content_only and view is not None:
            batch.append(view)
        else:
            batch += [picture, *([view] if view is not None else [])]
    # One batch: with two threads ONNX Runtime runs several inputs faster together.
    vectors = embedder.embed(batch, INPUT_SIZE)
    found = []
    row = 0
    for picture, sha256, (box, view) in zip(pictures, sha256s, framed, strict=True):
        views = 1 if view is not None and not content_only else 0
        pdq_hash, pdq_quality = pdq(picture)
        found.append(
            Features(
                version=ANALYSIS_VERSION,
                sha256=sha256,
                width=width,
                height=height,
                format=format,
                phash=phash(picture),
                embedding=vectors[row],
                views=vectors[row + 1 : row + 1 + views],
                thumb=thumbnail(picture),
                pdq=pdq_hash,
                pdq_quality=pdq_quality,
                local=local_features(picture, box, framed=view is not None),
                preview=preview_jpeg(picture) if previews else None,
            )
        )
        row += 1 + views
    return found
