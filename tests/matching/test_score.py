import io
import itertools
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont, ImageOps

from dupgate.analysis import Embedder, Features, analyze, load_embedder
from dupgate.matching.score import DEFAULT_EXACT, DEFAULT_NEAR, score, tier_of
from tests.images import encode, meme_of, resized_jpeg, shop_page_of, with_caption

PHOTOS = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "imagenet-sample"
ORIGINALS = ["n01440764_tench", "n03344393_fireboat", "n04398044_teapot"]
DISTINCT = ["n01855672_goose", "n02110063_malamute", "n02667093_abaya", "n03884397_panpipe"]


def photo(name: str) -> Path:
    path = PHOTOS / f"{name}.JPEG"
    if not path.exists():
        pytest.skip(f"the shared dataset file {path} is not here")
    return path


def upright(name: str) -> Image.Image:
    return ImageOps.exif_transpose(Image.open(photo(name))).convert("RGB")


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return load_embedder("onnx")


@pytest.fixture(scope="module")
def committed(embedder: Embedder) -> dict[str, Features]:
    return {name: analyze(photo(name).read_bytes(), embedder) for name in ORIGINALS + DISTINCT}


def tier(query: Features, candidate: Features) -> str:
    return tier_of(score(query, candidate), DEFAULT_EXACT, DEFAULT_NEAR)


@pytest.mark.parametrize("name", ORIGINALS)
def test_identical_bytes_score_one(name: str, committed: dict[str, Features]):
    assert score(committed[name], committed[name]) == 1.0


@pytest.mark.parametrize("name", ORIGINALS)
def test_resized_jpeg_copy_scores_exact(name, embedder, committed):
    copy = analyze(resized_jpeg(photo(name), scale=0.6, quality=75), embedder)
    assert 0.95 < score(copy, committed[name]) < 1.0
    assert tier(copy, committed[name]) == "exact"


@pytest.mark.parametrize("name", ORIGINALS)
def test_png_of_the_same_pixels_scores_exact(name, embedder, committed):
    assert tier(analyze(encode(upright(name), "PNG"), embedder), committed[name]) == "exact"


@pytest.mark.parametrize("name", ORIGINALS)
def test_text_overlay_copy_scores_near(name, embedder, committed):
    copy = analyze(with_caption(photo(name)), embedder)
    assert tier(copy, committed[name]) == "near"


@pytest.mark.parametrize("name", ORIGINALS)
def test_cropped_copy_scores_near(name, embedder, committed):
    image = upright(name)
    w, h = image.size
    cropped = image.crop((w // 10, h // 5, w * 8 // 10, h * 9 // 10))  # 70% x 70%, off-centre
    assert tier(analyze(encode(cropped), embedder), committed[name]) == "near"


@pytest.mark.parametrize("name", ORIGINALS)
def test_mirrored_copy_scores_near(name, embedder, committed):
    mirrored = analyze(encode(ImageOps.mirror(upright(name))), embedder)
    assert tier(mirrored, committed[name]) == "near"


@pytest.mark.parametrize("name", ORIGINALS)
def test_photo_between_meme_caption_bands_scores_near(name, embedder, committed):
    meme, _ = meme_of(upright(name), "NOBODY:", "ABSOLUTELY NOBODY:")
    assert tier(analyze(encode(meme), embedder), committed[name]) == "near"


@pytest.mark.parametrize("name", ORIGINALS)
def test_photo_in_a_phone_screenshot_scores_near_thanks_to_the_content_view(
    name, embedder, committed
):
    image = upright(name)
    screen = Image.new("RGB", (540, 1170), (250, 250, 250))
    draw = ImageDraw.Draw(screen)
    draw.rectangle((0, 0, 540, 50), fill=(30, 30, 30))
    draw.text((20, 15), "12:45  4G  87%", fill="white", font=ImageFont.load_default(size=20))
    screen.paste(image.resize((540, round(image.height * 540 / image.width))), (0, 150))
    draw.text((20, 1000), "1,234 likes", fill="black", font=ImageFont.load_default(size=24))
    query = analyze(encode(screen), embedder)
    assert float(query.embedding @ committed[name].embedding) < DEFAULT_NEAR  # whole: a miss
    assert tier(query, committed[name]) == "near"


@pytest.mark.parametrize("name", ORIGINALS)
def test_different_photo_is_unique(name: str, committed: dict[str, Features]):
    for other in DISTINCT:
        assert score(committed[name], committed[other]) < DEFAULT_NEAR - 0.2
        assert tier(committed[other], committed[name]) == "unique"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.0, "exact"),
        (DEFAULT_EXACT, "exact"),
        (0.9, "near"),
        (DEFAULT_NEAR, "near"),
        (0.2, "unique"),
    ],
)
def test_tier_of_compares_with_both_thresholds(value: float, expected: str):
    assert tier_of(value, DEFAULT_EXACT, DEFAULT_NEAR) == expected


def test_thresholds_leave_near_below_exact():
    assert 0 < DEFAULT_NEAR < DEFAULT_EXACT <= 1


CLOTHING = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "clothing"
# Pairs of different garments photographed by one contributor on one background, which SSCD
# alone scored as copies (cosine 0.80 and 0.54): a pink and an orange dress on the same
# patterned blanket, and two T-shirts on the same bedspread.
SAME_CONTRIBUTOR_GARMENTS = [
    ("ac2b8fd1-de2c-495c-9ab2-e4930d36e925", "955d8981-bfcc-4bca-8289-2d3bd3987b11"),
    ("10fe0db9-3a39-4281-871f-1ee7f2bdda6b", "c5b49a04-f4c8-46bd-ab2c-ccc65a1b6308"),
]


def garment(name: str) -> bytes:
    path = CLOTHING / "images" / f"{name}.jpg"
    if not path.exists():
        pytest.skip(f"the shared dataset file {path} is not here")
    return path.read_bytes()


@pytest.mark.parametrize(("a", "b"), SAME_CONTRIBUTOR_GARMENTS)
def test_two_garments_of_one_contributor_on_one_background_are_unique(a, b, embedder):
    first, second = analyze(garment(a), embedder), analyze(garment(b), embedder)
    assert float(first.embedding @ second.embedding) > 0.5  # SSCD alone: a "copy"
    assert tier(first, second) == "unique"
    assert tier(second, first) == "unique"


def test_a_garment_photo_cropped_and_captioned_is_still_near(embedder):
    a, _ = SAME_CONTRIBUTOR_GARMENTS[0]
    original = analyze(garment(a), embedder)
    image = Image.open(io.BytesIO(garment(a))).convert("RGB")
    w, h = image.size
    edited = image.crop((w // 12, h // 12, w, h))
    ImageDraw.Draw(edited).text((10, 10), "SOLD", fill="red", font=ImageFont.load_default(40))
    assert tier(analyze(encode(edited), embedder), original) == "near"


def phone_screenshot(image: Image.Image, caption: str) -> Image.Image:
    """One app's post template: status bar, header, the photo, likes and a caption."""
    screen = Image.new("RGB", (540, 1170), (250, 250, 250))
    draw = ImageDraw.Draw(screen)
    draw.rectangle((0, 0, 540, 50), fill=(30, 30, 30))
    draw.text((20, 15), "12:45  4G  87%", fill="white", font=ImageFont.load_default(size=20))
    draw.text((20, 80), "@shop_account  ·  Follow", fill="black", font=ImageFont.load_default(24))
    screen.paste(image.resize((540, round(image.height * 540 / image.width))), (0, 150))
    draw.text((20, 1000), "1,234 likes", fill="black", font=ImageFont.load_default(size=24))
    draw.text((20, 1040), caption, fill="black", font=ImageFont.load_default(size=22))
    return screen


@pytest.mark.parametrize("name", ORIGINALS)
def test_photo_in_a_screenshot_is_near_and_its_original_is_the_best_match(
    name, embedder, committed
):
    query = analyze(encode(phone_screenshot(upright(name), "new in!")), embedder)
    best = max(committed, key=lambda other: score(query, committed[other]))
    assert best == name
    assert tier(query, committed[name]) == "near"


def test_two_different_photos_in_one_screenshot_template_are_unique(embedder):
    screens = [
        analyze(encode(phone_screenshot(upright(name), "new in!")), embedder)
        for name in ORIGINALS + DISTINCT[:2]
    ]
    for a, b in itertools.permutations(screens, 2):
        assert tier(a, b) == "unique"


def test_two_different_photos_on_one_shop_page_template_are_unique(embedder):
    pages = [
        analyze(encode(shop_page_of(upright(name))[0]), embedder) for name in ORIGINALS + DISTINCT
    ]
    for a, b in itertools.permutations(pages, 2):
        assert tier(a, b) == "unique"


def test_photo_on_a_shop_page_is_near_its_original(embedder, committed):
    for name in ORIGINALS:
        query = analyze(encode(shop_page_of(upright(name))[0]), embedder)
        assert tier(query, committed[name]) == "near"
