"""Previews: small JPEGs of an image for people (the scan report), made once in the analysis pass.

A preview is made from the picture the analysis has decoded anyway and kept in the blob store
by the SHA-256 of the bytes, so that a page of previews costs reading a few kilobytes each,
never decoding the images again in the web process.
"""

import io

from PIL import Image

PREVIEW_SIDE = 160


def preview_jpeg(picture: Image.Image, side: int = PREVIEW_SIDE) -> bytes:
    """A JPEG of at most side×side pixels of a decoded (upright) picture."""
    small = picture.copy()
    small.thumbnail((side, side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    small.convert("RGB").save(out, "JPEG", quality=80)
    return out.getvalue()


def preview_key(sha256: str) -> str:
    """Where the preview of the image with these bytes is kept in the blob store."""
    return f"previews/{sha256}.jpg"
