import hashlib

import numpy as np
import pytest
from PIL import Image

from dupgate.analysis import ANALYSIS_VERSION, Embedder, Features, InvalidImage, analyze
from tests.analysis.conftest import dataset_file
from tests.images import encode


@pytest.fixture(scope="module")
def tench(embedder: Embedder) -> tuple[bytes, Features]:
    data = dataset_file("imagenet-sample/n01440764_tench.JPEG").read_bytes()
    return data, analyze(data, embedder)


def test_analyze_reports_every_signal_of_a_photo(tench: tuple[bytes, Features]):
    data, features = tench
    assert features.version == ANALYSIS_VERSION
    assert features.sha256 == hashlib.sha256(data).hexdigest()
    assert (features.width, features.height, features.format) == (500, 375, "JPEG")
    assert 0 <= features.phash < 2**64
    assert features.embedding.shape == (512,) and features.embedding.dtype == np.float32
    # A plain photo has no frame, hence no view.
    assert features.views.shape == (0, 512) and features.views.dtype == np.float32
    assert len(features.pdq) == 32 and features.thumb.shape == (32, 32, 3)


def test_features_round_trip_through_bytes(tench: tuple[bytes, Features]):
    _, features = tench
    stored = features.to_bytes()
    restored = Features.from_bytes(stored)
    assert restored == features
    np.testing.assert_array_equal(restored.embedding, features.embedding)
    np.testing.assert_array_equal(restored.views, features.views)
    assert restored.phash == features.phash and restored.pdq == features.pdq
    assert restored.local is not None and features.local is not None
    np.testing.assert_array_equal(
        restored.local.keypoints.descriptors, features.local.keypoints.descriptors
    )
    # Coordinates are kept to 1/64 pixel.
    assert np.abs(restored.local.keypoints.points - features.local.keypoints.points).max() < 0.01
    # Two sets of at most 400 keypoints at 36 bytes each (28.8 KB), the SSCD vector (2 KB),
    # two 32x32 thumbnails (6 KB) and the rest.
    assert len(stored) < 40_000


def test_a_photo_has_local_features_spread_over_it_and_its_mirror(tench: tuple[bytes, Features]):
    _, features = tench
    local = features.local
    assert local is not None and not local.framed and len(local.view) == 0
    assert 300 <= len(local.keypoints) <= 400 and 300 <= len(local.mirrored) <= 400
    w, h = local.size
    cells = {(int(x * 4 / w), int(y * 4 / h)) for x, y in local.keypoints.points}
    assert len(cells) >= 12  # of the 16 parts of a 4x4 grid: not only the sharpest corners


def test_features_of_analysis_version_1_still_read(tench: tuple[bytes, Features]):
    _, features = tench
    old = Features(**{**features.__dict__, "version": 1, "local": None})
    assert Features.from_bytes(old.to_bytes()).local is None


def test_features_with_a_view_round_trip_through_bytes(tench: tuple[bytes, Features]):
    _, features = tench
    view = np.eye(1, 512, 7, dtype=np.float32)
    framed = Features(**{**features.__dict__, "views": view})
    np.testing.assert_array_equal(Features.from_bytes(framed.to_bytes()).views, view)


@pytest.mark.parametrize("stored", [b"", b"not features at all", b"DGF\x01\x00\xff\xff\xff\xff"])
def test_bytes_that_are_not_features_are_refused(stored: bytes):
    with pytest.raises(ValueError):
        Features.from_bytes(stored)


def test_cut_features_are_refused(tench: tuple[bytes, Features]):
    with pytest.raises(ValueError):
        Features.from_bytes(tench[1].to_bytes()[:-10])


def test_analyze_refuses_what_is_not_an_image(embedder: Embedder):
    with pytest.raises(InvalidImage) as refused:
        analyze(b"GIF89a but not really", embedder)
    assert refused.value.reason in {"truncated", "not_an_image"}


@pytest.mark.parametrize("size", [(1, 1), (1, 300), (300, 1)])
def test_a_picture_one_pixel_wide_is_analysed_without_keypoints(
    embedder: Embedder, size: tuple[int, int]
):
    # ORB's pyramid failed on it: /check answered 500, uploads ended analysis_failed.
    features = analyze(encode(Image.new("RGB", size, (200, 30, 30)), "PNG"), embedder)
    assert (features.width, features.height) == size
    assert features.local is not None and len(features.local.keypoints.points) == 0


def test_exif_rotated_upload_has_the_features_of_the_upright_one(embedder: Embedder):
    from PIL import Image

    from tests.images import encode

    upright = Image.open(dataset_file("imagenet-sample/n01440764_tench.JPEG")).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = analyze(
        encode(upright.transpose(Image.Transpose.ROTATE_90), quality=95, exif=exif.tobytes()),
        embedder,
    )
    expected = analyze(encode(upright, quality=95), embedder)
    assert (rotated.width, rotated.height) == (expected.width, expected.height)
    assert float(rotated.embedding @ expected.embedding) > 0.97
    assert (rotated.phash ^ expected.phash).bit_count() <= 4
