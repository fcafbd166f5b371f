"""Telling from a file's first bytes whether it can be an image we decode."""

# Signatures of the raster formats Pillow decodes for us.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)


class UnsupportedFile(ValueError):
    """The bytes are certainly not an image dupgate can decode; `reason` is machine-readable."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def sniff(head: bytes) -> str:
    """The image format the first bytes announce, or UnsupportedFile saying what they are."""
    if not head:
        raise UnsupportedFile("empty", "the file is empty (0 bytes)")
    for signature, name in _SIGNATURES:
        if head.startswith(signature):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    stripped = head.lstrip().lower()
    if head.startswith(b"%PDF"):
        raise UnsupportedFile(
            "unsupported_format",
            "PDF documents are not images; upload a JPEG, PNG, WebP, GIF, BMP or TIFF",
        )
    if stripped.startswith((b"<svg", b"<?xml", b"<!doctype svg")):
        raise UnsupportedFile(
            "unsupported_format",
            "SVG and other vector or XML files are not supported; upload a raster image (JPEG, PNG, WebP, GIF, BMP or TIFF)",
        )
    raise UnsupportedFile(
        "not_an_image",
        "the file is not an image in a supported format (JPEG, PNG, WebP, GIF, BMP or TIFF)",
    )


# Containers PyAV (FFmpeg) reads for us, by their first bytes.
def sniff_video(head: bytes) -> str:
    """The container the first bytes announce, or UnsupportedFile saying what they are."""
    if not head:
        raise UnsupportedFile("empty", "the file is empty (0 bytes)")
    if head[4:8] == b"ftyp":
        return "MP4"  # MP4, MOV, 3GP, M4A (audio only is refused once decoded)
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "MATROSKA"  # MKV and WebM
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "AVI"
    if head.startswith(b"FLV"):
        return "FLV"
    if head.startswith(b"\x00\x00\x01\xba") or head.startswith(b"\x00\x00\x01\xb3"):
        return "MPEG"
    if head[:1] == b"G" and (len(head) < 189 or head[188:189] == b"G"):
        return "MPEGTS"
    if head[4:8] in (b"moov", b"mdat", b"free", b"wide", b"skip"):
        return "MP4"  # QuickTime files without a leading ftyp
    try:
        image = sniff(head)
    except UnsupportedFile:
        raise UnsupportedFile(
            "not_a_video",
            "the file is not a video in a supported container (MP4, MOV, WebM, MKV, AVI, FLV, "
            "MPEG-TS)",
        ) from None
    raise UnsupportedFile(
        "not_a_video",
        f"the file is a {image} image, not a video; send images to /v1/collections/{{c}}/images",
    )
