"""How dupgate's processes log: text or one JSON object per line, with the upload id when known.

The gateway and the workers call `configure_logging` once at start (uvicorn's app factory,
Celery's `setup_logging` signal); tests and library use leave logging as they found it.
"""

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from dupgate.settings import Settings

# The upload being handled by this request (gateway) or task (worker): one id, so that an
# operator can follow an upload from the POST to its decision across processes and hosts.
current_upload: ContextVar[str | None] = ContextVar("current_upload", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(upload)s"

# Loggers that uvicorn gives handlers of their own: in JSON they go through the root's instead,
# so that every line of the process is JSON.
_UVICORN = ("uvicorn", "uvicorn.access")


@contextmanager
def upload_context(upload_id: str) -> Iterator[None]:
    """Log `upload_id` with every record made inside (in this thread or task)."""
    token = current_upload.set(upload_id)
    try:
        yield
    finally:
        current_upload.reset(token)


class _UploadId(logging.Filter):
    """Puts the current upload's id on each record (`upload_id`, None when unknown)."""

    def filter(self, record: logging.LogRecord) -> bool:
        upload_id = current_upload.get()
        record.upload_id = upload_id
        record.upload = f" [upload {upload_id}]" if upload_id else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and upload_id when known."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        upload_id = getattr(record, "upload_id", None)
        if upload_id:
            line["upload_id"] = upload_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(settings: Settings) -> None:
    """Send every record at `settings.log_level` or above to stderr, as text or JSON lines."""
    # sys.__stderr__: Celery replaces sys.stderr with a proxy that logs, which would loop.
    handler = logging.StreamHandler(sys.__stderr__ or sys.stderr)
    handler.addFilter(_UploadId())
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
        for name in _UVICORN:
            logger = logging.getLogger(name)
            logger.handlers.clear()
            logger.propagate = True
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # Python's warnings (a library's deprecation, Celery's running-as-root) as log records too.
    logging.captureWarnings(True)
