"""Telling at once, from the first bytes, what cannot be an image."""

import pytest

from dupgate.analysis.formats import UnsupportedFile, sniff
from tests.conftest import photo


def test_a_real_jpeg_is_recognised() -> None:
    assert sniff(photo("n01440764").read_bytes()[:64]) == "JPEG"


@pytest.mark.parametrize(
    ("head", "reason"),
    [
        (b"", "empty"),
        (b"%PDF-1.4", "unsupported_format"),
        (b"  <svg xmlns='x'>", "unsupported_format"),
        (b"hello", "not_an_image"),
    ],
)
def test_non_images_are_named(head: bytes, reason: str) -> None:
    with pytest.raises(UnsupportedFile) as e:
        sniff(head)
    assert e.value.reason == reason
