"""From uploaded bytes to a small upright RGB picture, refusing what is not a safe image."""

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image

from dupgate.analysis.formats import UnsupportedFile, sniff

# No signal needs more than this many pixels on the long edge; JPEG decodes at 1/2..1/8 scale.
WORKING_SIZE = 512


# EXIF orientation -> the transpose that makes the picture upright, as ImageOps.exif_transpose
# does; applied by hand so it can run after the size reduction instead of on the full image.
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class InvalidImage(Exception):
    """The bytes are not an image dupgate can analyse; `reason` is machine-readable."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class DecodedImage:
    """An upload decoded for analysis: `picture` is RGB and at most WORKING_SIZE-ish pixels."""

    picture: Image.Image
    width: int  # original size, after EXIF orientation
    height: int
    format: str


def decode(data: bytes, *, max_pixels: int = 64_000_000) -> DecodedImage:
    """Decode safely: first frame, EXIF-upright, alpha on white, reduced size. Raises InvalidImage."""
    try:
        fmt = sniff(data[:64])
    except UnsupportedFile as e:
        raise InvalidImage(e.reason, e.message) from None
    with warnings.catch_warnings():
        # Pillow warns about odd-but-readable files; none of that may reach the caller,
        # except the bomb warning, which must stop decoding.
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return _decode(data, fmt, max_pixels)
        except InvalidImage:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise InvalidImage(
                "decompression_bomb",
                f"the image declares far more pixels than its file size explains; at most {max_pixels:,} pixels are accepted",
            ) from None
        except (OSError, SyntaxError, EOFError) as e:
            if _is_truncation(e) or _looks_cut_short(data, fmt):
                raise InvalidImage(
                    "truncated", "the image file is cut short; upload the complete file"
                ) from None
            raise InvalidImage(
                "not_an_image", f"the file could not be read as a {fmt} image; it may be damaged"
            ) from None
        except (ValueError, MemoryError, IndexError, TypeError, ZeroDivisionError) as e:
            # Pillow's decoders raise these on malformed headers and tables.
            if _looks_cut_short(data, fmt):
                raise InvalidImage(
                    "truncated", "the image file is cut short; upload the complete file"
                ) from None
            raise InvalidImage(
                "not_an_image", f"the file could not be read as a {fmt} image ({type(e).__name__})"
            ) from None


def _decode(data: bytes, fmt: str, max_pixels: int) -> DecodedImage:
    image: Image.Image = Image.open(io.BytesIO(data), formats=[fmt])
    width, height = image.size
    if width * height > max_pixels:
        raise InvalidImage(
            "too_large",
            f"the image is {width}x{height} pixels; at most {max_pixels:,} pixels are accepted",
        )
    if width == 0 or height == 0:
        raise InvalidImage("not_an_image", "the image has no pixels")
    if fmt == "JPEG" and _jpeg_scan_too_short(data):
        # libjpeg pads a scan that ends early with grey and only warns: the header's size
        # would be accepted over a fraction of the picture.
        raise InvalidImage(
            "truncated",
            f"the image declares {width}x{height} pixels but holds far too little data for "
            "them; it is cut short or damaged",
        )
    fmt = image.format or fmt
    if image.format == "JPEG" and image.mode in ("RGB", "L", "CMYK", "YCbCr"):
        # Decode at 1/2..1/8 scale in the DCT itself: the costliest saving of all.
        image.draft(image.mode, (WORKING_SIZE, WORKING_SIZE))
    image.load()  # truncation and bomb errors surface here, before any other work
    orientation = image.getexif().get(0x0112, 1)
    image = _flatten(image)
    image.thumbnail((WORKING_SIZE, WORKING_SIZE), Image.Resampling.BILINEAR, reducing_gap=2.0)
    if orientation in _ORIENTATION:
        image = image.transpose(_ORIENTATION[orientation])
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return DecodedImage(image, width, height, fmt)


def _flatten(image: Image.Image) -> Image.Image:
    """RGB of the first frame, with any transparency composited on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit and float greyscale: scale the real range to 8 bits (Pillow's convert("L")
        # would clip everything above 255 to white).
        values = np.asarray(image, dtype=np.float32)
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) * (255.0 / (high - low)) if high > low else values * 0
        image = Image.fromarray(scaled.round().astype(np.uint8), "L")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return image.convert("RGB")


def _is_truncation(error: BaseException) -> bool:
    text = str(error).lower()
    return any(
        word in text for word in ("truncated", "image file is", "premature", "unexpected end")
    ) or isinstance(error, EOFError)


# Start-of-frame markers of sequential Huffman JPEGs (baseline, extended, lossless): every
# block of theirs costs at least 2 bits (a 1-bit DC code and a 1-bit end-of-block code).
# Progressive and arithmetic-coded files can code runs of empty blocks in less: not checked.
_SEQUENTIAL_HUFFMAN_SOF = (0xC0, 0xC1)


def _jpeg_scan_too_short(data: bytes) -> bool:
    """Whether a sequential JPEG's entropy-coded data is too short for the blocks its frame
    header declares, so that the decoder would fill the rest in."""
    position = 2
    frame: tuple[int, int, list[tuple[int, int]]] | None = None
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return False  # not where a marker should be: Pillow judges such a file itself
        marker = data[position + 1]
        if marker == 0xFF:
            position += 1  # fill byte
            continue
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        segment = data[position + 4 : position + 2 + length]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if marker not in _SEQUENTIAL_HUFFMAN_SOF or len(segment) < 6:
                return False
            height = int.from_bytes(segment[1:3], "big")
            width = int.from_bytes(segment[3:5], "big")
            sampling = [
                (segment[7 + 3 * i] >> 4, segment[7 + 3 * i] & 0x0F)
                for i in range(segment[5])
                if 8 + 3 * i <= len(segment)
            ]
            frame = (width, height, sampling)
        elif marker == 0xDA:
            if frame is None:
                return False
            width, height, sampling = frame
            if not sampling or height == 0:
                return False
            h_max = max(h for h, _ in sampling) or 1
            v_max = max(v for _, v in sampling) or 1
            blocks = sum(
                _ceil(_ceil(width * h, h_max), 8) * _ceil(_ceil(height * v, v_max), 8)
                for h, v in sampling
            )
            scan_bytes = len(data) - (position + 2 + length)
            return scan_bytes * 8 < 2 * blocks
        position += 2 + length
    return False


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _looks_cut_short(data: bytes, fmt: str) -> bool:
    """Whether the container's own framing says bytes are missing at the end."""
    if fmt == "JPEG":
        return not data.rstrip(b"\x00").endswith(b"\xff\xd9")
    if fmt == "PNG":
        return b"IEND" not in data[-32:]
    if fmt == "WEBP" and len(data) >= 8:
        return len(data) < int.from_bytes(data[4:8], "little") + 8
    if fmt == "GIF":
        return not data.endswith(b"\x3b")
    return False
