"""Streams a multipart upload to disk while hashing it, refusing it once it passes the limit.

Starlette's form parser would spool the whole body before the route runs; here python-multipart's
streaming `MultipartParser` is fed the request stream chunk by chunk, so a body over the size
limit is refused after `limit` bytes. The parser splits the parts and bounds their headers (count
and line length); its callbacks below hold the form's shape: one `file` part, hashed and written
to disk as it arrives, and few small text fields, each named once. (Its higher-level `FormParser`
would not do: it offers no per-chunk hook to hash the file or refuse it at the limit while it
streams, and it bounds neither the number nor the size of a multipart form's parts.) The whole
body's budget and read timeouts are gateway.limits'.
"""

import hashlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from fastapi import HTTPException, Request
from python_multipart.multipart import MultipartParser, parse_options_header

from dupgate.gateway.limits import FORM_OVERHEAD_BYTES, BodyTooLarge
from dupgate.transient import storage_full

# Text fields (external_id, labels, reason) are small; anything bigger is a mistake.
MAX_FIELD_BYTES = 64 * 1024
# The forms have a file and at most two text fields; a few more are tolerated, not thousands.
MAX_PARTS = 16
# One part header line (a Content-Disposition with a file name) is short.
MAX_HEADER_BYTES = 8 * 1024
# A part has a Content-Disposition, perhaps a Content-Type; a few more are tolerated.
MAX_PART_HEADERS = 8


class BadForm(Exception):
    """The body is not a usable multipart form."""


@dataclass
class StagedFile:
    """The uploaded file, written to a temporary file, with its hash and size."""

    path: Path
    sha256: str
    size: int
    filename: str | None
    head: bytes  # the first bytes, to tell at once what kind of file it is


@dataclass
class StagedForm:
    """A parsed form: text fields, and the file field if one was sent."""

    fields: dict[str, str] = field(default_factory=dict)
    file: StagedFile | None = None


async def stage_form(
    request: Request, tmp_dir: Path, limit: int, file_field: str = "file"
) -> StagedForm:
    """Parse the multipart body of `request`, writing the file field under `tmp_dir`."""
    content_type = request.headers.get("content-type", "")
    mime, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if mime != b"multipart/form-data" or not boundary:
        raise BadForm("send the image as multipart/form-data with a `file` field")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + FORM_OVERHEAD_BYTES:
        raise BodyTooLarge(limit + FORM_OVERHEAD_BYTES)

    form = StagedForm()
    tmp_dir.mkdir(parents=True, exist_ok=True)
    state: dict[str, str | None] = {}
    header_name = bytearray()
    header_value = bytearray()
    headers: dict[bytes, bytes] = {}
    digest = hashlib.sha256()
    out: IO[bytes] | None = None
    size = 0
    head = bytearray()
    value = bytearray()
    parts = 0

    def on_part_begin() -> None:
        nonlocal parts
        parts += 1
        if parts > MAX_PARTS:
            raise BadForm(f"the form has more than {MAX_PARTS} parts")
        headers.clear()
        value.clear()

    # The parser bounds each header line (max_header_size) and their number per part.
    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_name.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        headers[bytes(header_name).lower()] = bytes(header_value)
        header_name.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        nonlocal out
        _, disposition = parse_options_header(headers.get(b"content-disposition", b""))
        name = disposition.get(b"name", b"").decode()
        filename = disposition.get(b"filename")
        state["name"] = name
        if name == file_field and (form.file is not None or out is not None):
            raise BadForm(f"send one `{file_field}` part, not several: one image per request")
        if name in form.fields:
            raise BadForm(f"form field {name!r} is sent twice")
        if name == file_field:
            # Closed in on_part_end, or by discard() when parsing fails.
            out = tempfile.NamedTemporaryFile(dir=tmp_dir, delete=False, suffix=".part")  # noqa: SIM115
            state["filename"] = filename.decode(errors="replace") if filename is not None else None

    def on_part_data(data: bytes, start: int, end: int) -> None:
        nonlocal size
        chunk = data[start:end]
        if out is not None and state.get("name") == file_field:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(limit, "file")
            digest.update(chunk)
            if len(head) < 64:
                head.extend(chunk[: 64 - len(head)])
            out.write(chunk)
        else:
            value.extend(chunk)
            if len(value) > MAX_FIELD_BYTES:
                raise BadForm(f"form field {state.get('name')!r} is too long")

    def on_part_end() -> None:
        nonlocal out
        name = state.get("name") or ""
        if out is not None and name == file_field:
            out.close()
            form.file = StagedFile(
                Path(out.name),
                digest.hexdigest(),
                size,
                state.get("filename"),
                bytes(head),
            )
            out = None
        elif name:
            form.fields[name] = value.decode(errors="replace")

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
        max_header_count=MAX_PART_HEADERS,
        max_header_size=MAX_HEADER_BYTES,
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except (HTTPException, BadForm):
        # Too large or too slow (gateway.limits), or not the form we take.
        discard(form, out)
        raise
    except Exception as e:
        discard(form, out)
        if storage_full(e):
            raise  # the server's disk, not the client's form: a 507
        raise BadForm(f"the multipart body could not be parsed: {e}") from e
    return form


def discard(form: StagedForm, out: IO[bytes] | None = None) -> None:
    """Remove the temporary file of a form that will not be used."""
    if out is not None:
        out.close()
        Path(out.name).unlink(missing_ok=True)
    if form.file is not None:
        form.file.path.unlink(missing_ok=True)
