"""The FastAPI application: routes under /v1, errors as JSON with a message a user can act on."""

from collections.abc import Awaitable, Callable
from functools import partial
from importlib.metadata import version
from typing import Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from kombu.exceptions import OperationalError as BrokerError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from dupgate import __doc__ as about
from dupgate.analysis.formats import UnsupportedFile
from dupgate.analysis.remote import AnalysisUnavailable
from dupgate.curation.blocklist import InvalidBlock
from dupgate.curation.not_duplicates import InvalidNotDuplicate
from dupgate.errors import NotFound
from dupgate.events.audit import on_uploads_decided, on_webhooks_due
from dupgate.events.notify import TooManyWaiters, publish_decided
from dupgate.gateway.admin.operations import router as console_operations
from dupgate.gateway.admin.pages import router as console
from dupgate.gateway.admin.rendering import error_page
from dupgate.gateway.admin.session import CsrfRefused, SignInRequired
from dupgate.gateway.deps import BrokerUnavailable, caller
from dupgate.gateway.errors import COMMON_ERRORS, ERROR_BODY_REF, STATUS_CODES, FieldError, error
from dupgate.gateway.limits import BodyLimits
from dupgate.gateway.rate_limits import RateLimited
from dupgate.gateway.routes import (
    blocklist,
    collections,
    events,
    images,
    keys,
    review,
    scans,
    uploads,
    videos,
    webhooks,
)
from dupgate.gateway.schemas.health import Health, Readiness, ReadinessCheck
from dupgate.gateway.staging import BadForm
from dupgate.logs import configure_logging
from dupgate.metrics import DeploymentCollector
from dupgate.readiness import readiness
from dupgate.scans.jobs import InvalidScan, ScanNotDone
from dupgate.scans.resolve import AlreadyResolved, InvalidResolution
from dupgate.scans.scope import InvalidFilter
from dupgate.services import get_services
from dupgate.settings import get_settings
from dupgate.store.blobs import BlobStoreUnavailable
from dupgate.tenancy.collections import CollectionNameTaken, InvalidPolicy
from dupgate.tenancy.keys import Forbidden, InvalidKeyRequest
from dupgate.transient import storage_full
from dupgate.uploads.intake import IdempotencyConflict
from dupgate.uploads.review import InvalidReview, NotReviewable
from dupgate.webhooks.endpoints import InvalidWebhook

# Domain errors whose message is already the answer: the HTTP status and a stable code. What
# is not found (NotFound: by id, or another tenant's) is a 404 with the exception's own code.
ERRORS: dict[type[Exception], tuple[int, str]] = {
    CollectionNameTaken: (409, "collection_name_taken"),
    InvalidPolicy: (422, "invalid_policy"),
    BadForm: (422, "bad_form"),
    IdempotencyConflict: (409, "idempotency_conflict"),
    Forbidden: (403, "forbidden"),
    InvalidKeyRequest: (422, "invalid_key_request"),
    NotReviewable: (409, "not_reviewable"),
    InvalidReview: (422, "invalid_review"),
    InvalidNotDuplicate: (422, "invalid_request"),
    InvalidBlock: (422, "invalid_block"),
    InvalidWebhook: (422, "invalid_webhook"),
    InvalidScan: (422, "invalid_scan"),
    InvalidFilter: (422, "invalid_filter"),
    ScanNotDone: (409, "conflict"),
    InvalidResolution: (422, "invalid_resolution"),
    AlreadyResolved: (409, "already_resolved"),
}


def retry_later(status: int, code: str, message: str) -> JSONResponse:
    """An error that passes by itself: the client is told when to try again."""
    seconds = get_settings().retry_after_seconds
    return error(
        status, code, f"{message}; retry in {seconds} s", headers={"Retry-After": str(seconds)}
    )


# Overload the client should retry: 503 with Retry-After (seconds).
TRY_LATER: dict[type[Exception], tuple[str, int]] = {
    TooManyWaiters: ("too_many_waiters", 1),
    AnalysisUnavailable: ("analysis_unavailable", 5),
}


def answer(request: Request, status: int, code: str, message: str, **more: Any) -> Response:
    """An error: as JSON, or as a page of the admin console for its own paths."""
    if request.url.path == "/admin" or request.url.path.startswith("/admin/"):
        return error_page(request, status, message)
    return error(status, code, message, **more)


def _error_handler(status: int, code: str) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handle(request: Request, e: Exception) -> Response:
        return answer(request, status, code, str(e))

    return handle


def _try_later_handler(
    code: str, retry_after: int
) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handle(_: Request, e: Exception) -> JSONResponse:
        return error(503, code, str(e), headers={"Retry-After": str(retry_after)})

    return handle


class Gateway(FastAPI):
    """The app, whose OpenAPI document says that every error is an ErrorBody in JSON, also on
    routes whose success is HTML or bytes (FastAPI would give their errors the same type)."""

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            schema = super().openapi()
            error_body = {"application/json": {"schema": {"$ref": ERROR_BODY_REF}}}
            for operations in schema["paths"].values():
                for operation in operations.values():
                    for status, response in operation["responses"].items():
                        if status.startswith(("4", "5")):
                            response["content"] = error_body
            self.openapi_schema = schema
        return self.openapi_schema


def create_app() -> FastAPI:
    """Build the gateway."""
    app = Gateway(title="dupgate", description=about or "", version=version("dupgate"))
    routers = (
        collections,
        uploads,
        images,
        videos,
        review,
        blocklist,
        scans,
        events,
        webhooks,
        keys,
    )
    for module in routers:
        app.include_router(
            module.router, prefix="/v1", dependencies=[Depends(caller)], responses=COMMON_ERRORS
        )
    # The admin console: pages over the same domain, signed in with a session cookie.
    app.include_router(console)
    app.include_router(console_operations)
    settings = get_settings()
    app.add_middleware(
        BodyLimits,
        max_upload_bytes=settings.max_upload_bytes,
        max_video_upload_bytes=settings.max_video_upload_bytes,
        idle_timeout=settings.body_idle_timeout_seconds,
        read_timeout=settings.body_read_timeout_seconds,
    )
    on_webhooks_due(_deliver_webhooks)
    # Reviews decide in the gateway: their long-polls wake up like the workers' decisions.
    on_uploads_decided(partial(publish_decided, get_settings()))

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> Health:
        # Liveness: the process answers. Whether it can do its work is /readyz.
        return Health(status="ok")

    @app.get("/readyz", include_in_schema=False)
    async def readyz(response: Response) -> Readiness:
        services = get_services()
        checks = await run_in_threadpool(readiness, services.settings, services.store)
        ready = all(c.ok for c in checks.values())
        response.status_code = 200 if ready else 503
        return Readiness(
            status="ready" if ready else "unavailable",
            checks={name: ReadinessCheck.of(c) for name, c in checks.items()},
        )

    # The same numbers from every gateway (read from the database and the broker at scrape
    # time), so any one may be scraped. No API key: they are counts, with no tenant's names or
    # content; keep the port off the public internet as with /readyz.
    metrics = CollectorRegistry(auto_describe=False)
    metrics.register(DeploymentCollector(settings))

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        body = await run_in_threadpool(generate_latest, metrics)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    # Outages: the client is told to come back, not shown a plain-text 500.
    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _database_down(_: Request, __: Exception) -> JSONResponse:
        return retry_later(503, "database_unavailable", "the database is unavailable")

    @app.exception_handler(BrokerUnavailable)
    @app.exception_handler(BrokerError)
    @app.exception_handler(RedisConnectionError)
    async def _broker_down(_: Request, __: Exception) -> JSONResponse:
        return retry_later(503, "broker_unavailable", "the task queue (Redis) is unavailable")

    @app.exception_handler(BlobStoreUnavailable)
    async def _blob_store_down(_: Request, __: Exception) -> JSONResponse:
        return retry_later(503, "storage_unavailable", "the blob store is unavailable")

    @app.exception_handler(OSError)
    async def _disk_full(_: Request, e: OSError) -> JSONResponse:
        if not storage_full(e):
            raise e
        return retry_later(507, "insufficient_storage", "the server's storage is full")

    for exception, (status, code) in ERRORS.items():
        app.add_exception_handler(exception, _error_handler(status, code))

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, e: NotFound) -> Response:
        return answer(request, 404, e.code, str(e))

    @app.exception_handler(SignInRequired)
    async def _sign_in(_: Request, e: SignInRequired) -> Response:
        return RedirectResponse(f"/admin/login?{urlencode({'next': e.next_path})}", 303)

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, e: CsrfRefused) -> Response:
        return error_page(request, 403, str(e))

    # A bug: the same body as every other error (the server logs the exception).
    @app.exception_handler(Exception)
    async def _internal(request: Request, __: Exception) -> Response:
        return answer(request, 500, "internal_error", "the server failed; the error is logged")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException) -> Response:
        code = getattr(e, "code", None) or STATUS_CODES.get(e.status_code, "error")
        headers = dict(e.headers) if e.headers else None
        return answer(request, e.status_code, code, str(e.detail), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, e: RequestValidationError) -> Response:
        errors = [
            FieldError(
                loc=[str(p) if not isinstance(p, int) else p for p in x["loc"]],
                msg=x["msg"],
                type=x["type"],
            )
            for x in e.errors()
        ]
        summary = "; ".join(f"{'.'.join(str(p) for p in x.loc)}: {x.msg}" for x in errors[:5])
        return answer(request, 422, "invalid_request", summary or "invalid request", errors=errors)

    @app.exception_handler(UnsupportedFile)
    async def _unsupported(_: Request, e: UnsupportedFile) -> JSONResponse:
        return error(400 if e.reason == "empty" else 415, e.reason, e.message)

    for busy, (code, retry_after) in TRY_LATER.items():
        app.add_exception_handler(busy, _try_later_handler(code, retry_after))

    @app.exception_handler(RateLimited)
    async def _rate_limited(_: Request, e: RateLimited) -> JSONResponse:
        return error(429, "rate_limited", str(e), headers={"Retry-After": str(e.retry_after)})

    return app


def _deliver_webhooks() -> None:
    # Imported here so that importing the gateway does not connect to the broker.
    from dupgate.workers.tasks import deliver_webhooks

    deliver_webhooks.delay()


app = create_app()


def serving_app() -> FastAPI:
    """The app as a gateway process serves it (`uvicorn --factory`), logging as configured."""
    configure_logging(get_settings())
    return app
