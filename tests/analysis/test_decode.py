import io
import time

import numpy as np
import pytest
from PIL import Image, ImageDraw

from dupgate.analysis import InvalidImage
from dupgate.analysis.decode import WORKING_SIZE, decode
from tests.analysis.conftest import dataset_file
from tests.images import encode, giant_png

TENCH = "imagenet-sample/n01440764_tench.JPEG"


def reason_for(data: bytes, **options: int) -> str:
    with pytest.raises(InvalidImage) as refused:
        decode(data, **options)
    assert refused.value.message
    return refused.value.reason


def test_empty_bytes_are_refused_as_empty():
    assert reason_for(b"") == "empty"


def test_text_file_is_not_an_image():
    assert reason_for(b"name,size\nholiday.jpg,1200\n") == "not_an_image"


def test_svg_is_an_unsupported_format():
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'
    assert reason_for(svg) == "unsupported_format"


def test_pdf_is_an_unsupported_format():
    assert reason_for(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n") == "unsupported_format"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF"])
def test_file_cut_in_half_is_truncated(fmt: str):
    data = encode(Image.open(dataset_file(TENCH)).convert("RGB"), fmt)
    assert reason_for(data[: len(data) // 2]) == "truncated"


def with_declared_size(jpeg: bytes, width: int, height: int) -> bytes:
    """The JPEG with its frame header (SOF0) claiming another size; the data stays as it was."""
    at = jpeg.index(b"\xff\xc0") + 5
    return jpeg[:at] + height.to_bytes(2, "big") + width.to_bytes(2, "big") + jpeg[at + 4 :]


def test_a_jpeg_header_claiming_far_more_pixels_than_its_data_is_truncated():
    small = encode(Image.open(dataset_file(TENCH)).convert("RGB").resize((100, 75)), "JPEG")
    assert decode(small).width == 100
    # Complete to its end marker, yet the decoder would paint 8000x7999 grey around 100x75.
    assert reason_for(with_declared_size(small, 8000, 7999)) == "truncated"


def test_a_large_plain_jpeg_holds_just_enough_data_and_is_accepted():
    # All blocks equal, tables optimised: about 2 bits per block, the least a JPEG can hold.
    plain = encode(Image.new("L", (4000, 4000), 0), "JPEG", optimize=True)
    assert decode(plain).width == 4000


def test_random_bytes_behind_a_jpeg_signature_are_not_an_image():
    noise = np.random.default_rng(7).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    assert reason_for(b"\xff\xd8\xff\xe0" + noise + b"\xff\xd9") in {"not_an_image", "truncated"}


def test_giant_png_is_refused_quickly_without_decoding_it():
    data = giant_png(30000, 30000)
    started = time.perf_counter()
    assert reason_for(data) in {"too_large", "decompression_bomb"}
    assert time.perf_counter() - started < 1.0


def test_image_over_max_pixels_is_too_large():
    data = encode(Image.new("RGB", (1200, 1000), (10, 120, 200)), "PNG")
    assert reason_for(data, max_pixels=1_000_000) == "too_large"
    assert decode(data, max_pixels=1_200_000).width == 1200


def test_jpeg_is_decoded_small_but_reports_its_original_size():
    decoded = decode(
        dataset_file("pdq-testdata/reg-test-input/exif-rotn/exif-rotn-1.jpg").read_bytes()
    )
    assert (decoded.width, decoded.height, decoded.format) == (4032, 3024, "JPEG")
    assert max(decoded.picture.size) <= WORKING_SIZE
    assert decoded.picture.mode == "RGB"


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied_to_the_pixels(orientation: int):
    upright = Image.open(dataset_file(TENCH)).convert("RGB")
    # The stored pixels are what a camera would write for the tag; the tag turns them upright.
    stored = upright.transpose(
        {
            3: Image.Transpose.ROTATE_180,
            6: Image.Transpose.ROTATE_90,
            8: Image.Transpose.ROTATE_270,
        }[orientation]
    )
    exif = Image.Exif()
    exif[0x0112] = orientation
    decoded = decode(encode(stored, "JPEG", quality=95, exif=exif.tobytes()))
    expected = decode(encode(upright, "JPEG", quality=95))
    assert (decoded.width, decoded.height) == upright.size
    assert decoded.picture.size == expected.picture.size
    difference = np.abs(
        np.asarray(decoded.picture, dtype=np.int16) - np.asarray(expected.picture, dtype=np.int16)
    )
    assert difference.mean() < 4


@pytest.mark.parametrize("name", ["exif-rotn-3.jpg", "exif-rotn-6.jpg", "exif-rotn-8.jpg"])
def test_exif_rotated_camera_files_decode_upright(name: str):
    decoded = decode(dataset_file(f"pdq-testdata/reg-test-input/exif-rotn/{name}").read_bytes())
    expected_portrait = name in {"exif-rotn-6.jpg", "exif-rotn-8.jpg"}
    assert (decoded.height > decoded.width) == expected_portrait
    assert (decoded.picture.height > decoded.picture.width) == expected_portrait


@pytest.mark.parametrize(
    "name",
    ["1.png", "CMYK.jpg", "F.webp", "HSV.webp", "I.webp", "L.png", "LA.png", "LAB.webp"]
    + ["P.png", "PA.webp", "RGBA.png", "YCbCr.jpg"],
)
def test_every_colour_mode_decodes_to_rgb_of_the_same_picture(name: str):
    original = decode(dataset_file("pdq-testdata/misc-images/modes/original.jpg").read_bytes())
    decoded = decode(dataset_file(f"pdq-testdata/misc-images/modes/{name}").read_bytes())
    assert decoded.picture.mode == "RGB"
    assert (decoded.width, decoded.height) == (original.width, original.height)
    grey = [
        np.asarray(d.picture.convert("L").resize((64, 40)), dtype=np.int16)
        for d in (decoded, original)
    ]
    # Greyscale and 1-bit versions keep the layout of light and dark, not the colours.
    assert np.corrcoef(grey[0].ravel(), grey[1].ravel())[0, 1] > 0.8


def test_sixteen_bit_greyscale_png_keeps_its_contrast():
    ramp = np.tile(np.linspace(0, 65535, 256, dtype=np.uint16), (64, 1))
    decoded = decode(encode(Image.fromarray(ramp), "PNG"))
    row = np.asarray(decoded.picture)[32, :, 0]
    assert row[0] < 10 and row[-1] > 245 and 100 < row[128] < 160


def test_transparency_is_composited_on_white():
    image = Image.new("RGBA", (100, 80), (0, 0, 0, 0))
    ImageDraw.Draw(image).rectangle((0, 0, 49, 79), fill=(200, 0, 0, 255))
    pixels = np.asarray(decode(encode(image, "PNG")).picture)
    assert tuple(pixels[40, 90]) == (255, 255, 255)
    assert tuple(pixels[40, 10]) == (200, 0, 0)


def test_palette_image_with_transparency_decodes_without_a_warning():
    image = Image.new("P", (64, 64), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    ImageDraw.Draw(image).rectangle((0, 0, 31, 63), fill=1)
    data = encode(image, "PNG", transparency=0)
    pixels = np.asarray(decode(data).picture)
    assert tuple(pixels[10, 50]) == (255, 255, 255)
    assert tuple(pixels[10, 10]) == (0, 0, 255)


def test_animated_gif_is_read_from_its_first_frame():
    frames = [Image.new("RGB", (60, 40), colour) for colour in [(255, 0, 0), (0, 0, 255)]]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    pixels = np.asarray(decode(out.getvalue()).picture)
    assert pixels[20, 30, 0] > 200 and pixels[20, 30, 2] < 50
