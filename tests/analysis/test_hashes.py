import csv

import pytest
from PIL import Image

from dupgate.analysis.decode import decode
from dupgate.analysis.hashes import pdq, phash, phash_distance, thumbnail
from tests.analysis.conftest import PDQ_TESTDATA, dataset_file


def official_pdq_hashes() -> list[tuple[str, str]]:
    table = dataset_file("pdq-testdata/bridge-mods_expected_pdq.csv")
    with open(table) as f:
        return [(name, expected) for expected, name in csv.reader(f)]


def test_pdq_of_the_bridge_edits_matches_the_official_hashes():
    for name, expected in official_pdq_hashes():
        picture = decode((PDQ_TESTDATA / name).read_bytes()).picture
        ours, quality = pdq(picture)
        distance = (int.from_bytes(ours, "big") ^ int(expected, 16)).bit_count()
        # PDQ counts <= 31 of 256 bits as a match; decoding at 512 px leaves us within a few.
        assert distance <= 4, (name, ours.hex(), expected)
        assert 0 <= quality <= 100


def test_phash_is_an_unsigned_64_bit_int_that_survives_resizing():
    photo = Image.open(dataset_file("imagenet-sample/n01440764_tench.JPEG")).convert("RGB")
    value = phash(photo)
    assert 0 <= value < 2**64
    assert phash_distance(value, phash(photo.resize((250, 188)))) <= 4


@pytest.mark.parametrize("size", [(32, 32), (640, 120)])
def test_thumbnail_is_32_by_32_colour_whatever_the_shape(size: tuple[int, int]):
    assert thumbnail(Image.new("RGB", size, (1, 2, 3))).shape == (32, 32, 3)
