from PIL import Image, ImageDraw, ImageFont

from dupgate.analysis.views import content_box, framed_view
from tests.analysis.conftest import dataset_file
from tests.images import meme_of, shop_page_of

BOAT = "imagenet-sample/n03344393_fireboat.JPEG"


def boat() -> Image.Image:
    return Image.open(dataset_file(BOAT)).convert("RGB")


def phone_screenshot_of(photo: Image.Image) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """The photo in a drawn phone app: status bar, header, like bar and navigation bar."""
    width, height = 540, 1170
    screen = Image.new("RGB", (width, height), (250, 250, 250))
    draw = ImageDraw.Draw(screen)
    draw.rectangle((0, 0, width, 50), fill=(30, 30, 30))
    draw.text((20, 15), "12:45  4G  87%", fill="white", font=ImageFont.load_default(size=20))
    draw.ellipse((15, 65, 75, 125), fill=(120, 160, 200))
    draw.text((90, 80), "some_user  Follow", fill="black", font=ImageFont.load_default(size=22))
    shown = photo.resize((width, round(photo.height * width / photo.width)))
    screen.paste(shown, (0, 150))
    below = 150 + shown.height
    draw.text((20, below + 20), "1,234 likes", fill="black", font=ImageFont.load_default(size=24))
    for i in range(5):
        draw.rectangle((40 + i * 100, height - 65, 80 + i * 100, height - 25), fill=(60, 60, 60))
    return screen, (0, 150, width, below)


def overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two boxes."""
    width = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area


def test_content_box_of_a_plain_photo_is_the_whole_photo():
    photo = boat()
    assert content_box(photo) == (0, 0, photo.width, photo.height)


def test_content_box_cuts_a_uniform_border():
    photo = boat()
    padded = Image.new("RGB", (photo.width + 200, photo.height + 100), "black")
    padded.paste(photo, (100, 50))
    assert overlap(content_box(padded), (100, 50, 100 + photo.width, 50 + photo.height)) > 0.95


def test_content_box_cuts_the_caption_bands_of_a_meme():
    meme, where = meme_of(boat())
    assert overlap(content_box(meme), where) > 0.9


def test_content_box_finds_the_photo_in_a_phone_screenshot():
    screen, where = phone_screenshot_of(boat())
    assert overlap(content_box(screen), where) > 0.9


def test_content_box_finds_a_narrow_photo_beside_the_listing_on_a_shop_page():
    page, where = shop_page_of(boat())
    assert overlap(content_box(page), where) > 0.9


def test_a_garment_on_a_flat_tiled_floor_is_not_taken_for_a_photo_in_a_frame():
    # Its box would be cut from inside the garment, and a black shirt's box would then verify
    # as any other black garment.
    for name in ("3b956cdc-695c-4ee9-bb33-a01136872221", "eaebcbd6-c54d-435e-a679-13ca18e96e4c"):
        garment = Image.open(dataset_file(f"clothing/images/{name}.jpg")).convert("RGB")
        assert framed_view(garment)[1] is None


def test_plain_photo_has_no_view():
    picture = boat()
    assert framed_view(picture) == ((0, 0, picture.width, picture.height), None)


def test_framed_photo_has_its_content_box_as_its_one_view():
    meme, where = meme_of(boat())
    box, view = framed_view(meme)
    assert view is not None and view.size == (box[2] - box[0], box[3] - box[1])
    assert abs(view.height - (where[3] - where[1])) < 0.1 * view.height


def test_tiny_flat_picture_has_no_view():
    assert framed_view(Image.new("RGB", (40, 30), "white"))[1] is None
