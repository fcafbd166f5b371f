"""The FastAPI application: routes under /v1, errors as JSON with a message a user can act on."""

from collections.abc import Awaitable, Callable

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from dupgate import __doc__ as about
from dupgate.blocklist import InvalidBlock, UnknownBlock
from dupgate.collections import CollectionNameTaken, InvalidPolicy, UnknownCollection
from dupgate.events import on_webhooks_due
from dupgate.formats import UnsupportedFile
from dupgate.keys import Forbidden, InvalidKeyRequest
from dupgate.review import InvalidReview, NotReviewable
from dupgate.scans.jobs import InvalidScan, UnknownScan
from dupgate.scans.resolve import AlreadyResolved, InvalidResolution
from dupgate.scans.scope import InvalidFilter
from dupgate.settings import get_settings
from dupgate.uploads import IdempotencyConflict
from dupgate.webhooks import InvalidWebhook, UnknownWebhook
from gateway.deps import caller
from gateway.routes import (
    blocklist,
    collections,
    events,
    images,
    keys,
    review,
    scans,
    uploads,
    webhooks,
)
from gateway.staging import BadForm, BodyTooLarge

# Domain errors whose message is already the answer: the HTTP status and a stable code.
ERRORS: dict[type[Exception], tuple[int, str]] = {
    UnknownCollection: (404, "unknown_collection"),
    CollectionNameTaken: (409, "collection_name_taken"),
    InvalidPolicy: (422, "invalid_policy"),
    BadForm: (422, "bad_form"),
    IdempotencyConflict: (409, "idempotency_conflict"),
    Forbidden: (403, "forbidden"),
    InvalidKeyRequest: (422, "invalid_key_request"),
    NotReviewable: (409, "not_reviewable"),
    InvalidReview: (422, "invalid_review"),
    InvalidBlock: (422, "invalid_block"),
    UnknownBlock: (404, "unknown_block"),
    InvalidWebhook: (422, "invalid_webhook"),
    UnknownWebhook: (404, "unknown_webhook"),
    InvalidScan: (422, "invalid_scan"),
    InvalidFilter: (422, "invalid_filter"),
    UnknownScan: (404, "unknown_scan"),
    InvalidResolution: (422, "invalid_resolution"),
    AlreadyResolved: (409, "already_resolved"),
}


def error(status: int, code: str, message: str) -> JSONResponse:
    """An error as JSON: `detail` for people (FastAPI's own key), `code` for programs."""
    return JSONResponse({"detail": message, "code": code}, status_code=status)


def _error_handler(
    status: int, code: str
) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handle(_: Request, e: Exception) -> JSONResponse:
        return error(status, code, str(e))

    return handle


def create_app() -> FastAPI:
    """Build the gateway."""
    app = FastAPI(title="dupgate", description=about or "", version="0.1.0")
    routers = (collections, uploads, images, review, blocklist, scans, events, webhooks, keys)
    for module in routers:
        app.include_router(module.router, prefix="/v1", dependencies=[Depends(caller)])
    on_webhooks_due(_deliver_webhooks)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    for exception, (status, code) in ERRORS.items():
        app.add_exception_handler(exception, _error_handler(status, code))

    @app.exception_handler(UnsupportedFile)
    async def _unsupported(_: Request, e: UnsupportedFile) -> JSONResponse:
        return error(400 if e.reason == "empty" else 415, e.reason, e.message)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(_: Request, __: BodyTooLarge) -> JSONResponse:
        limit = get_settings().max_upload_bytes
        return error(413, "too_large", f"the file is larger than the limit of {limit} bytes")

    return app


def _deliver_webhooks() -> None:
    # Imported here so that importing the gateway does not connect to the broker.
    from workers.tasks import deliver_webhooks

    deliver_webhooks.delay()


app = create_app()
