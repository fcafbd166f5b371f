"""Fixtures for the scan tests: the real embedder and analysed images."""

import io
from pathlib import Path

import pytest
from PIL import Image

from dupgate.analysis import Embedder, analyze, load_embedder
from dupgate.matching.indexes import ImageIndex, new_index
from dupgate.scans import ScanImage

# Photos that are no two alike: 9 ImageNet classes far apart.
DISTINCT = (
    "n01440764_tench",
    "n01443537_goldfish",
    "n01484850_great_white_shark",
    "n01518878_ostrich",
    "n01530575_brambling",
    "n02085620_Chihuahua",
    "n03000134_chainlink_fence",
    "n04254680_soccer_ball",
    "n07753592_banana",
)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return load_embedder("onnx")


def scan_image(key: str, data: bytes, embedder: Embedder, created_at: float = 0.0) -> ScanImage:
    return ScanImage(key, analyze(data, embedder), len(data), created_at)


def indexed(images: list[ScanImage]) -> ImageIndex:
    index = new_index()
    index.add_many([(label, image.key, image.features) for label, image in enumerate(images)])
    return index


def jpeg_of(image: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def rgb(path: Path) -> Image.Image:
    return Image.open(path).convert("RGB")
