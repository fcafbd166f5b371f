"""The FastAPI application: routes under /v1, errors as JSON with a message a user can act on."""

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from dupgate import __doc__ as about
from dupgate.collections import InvalidPolicy, UnknownCollection
from dupgate.formats import UnsupportedFile
from dupgate.settings import get_settings
from dupgate.uploads import IdempotencyConflict
from gateway.deps import require_key
from gateway.routes import collections, images, uploads
from gateway.staging import BadForm, BodyTooLarge


def create_app() -> FastAPI:
    """Build the gateway."""
    app = FastAPI(title="dupgate", description=about or "", version="0.1.0")
    for router in (collections.router, uploads.router, images.router):
        app.include_router(router, prefix="/v1", dependencies=[Depends(require_key)])

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    def error(status: int, code: str, message: str) -> JSONResponse:
        return JSONResponse({"detail": message, "code": code}, status_code=status)

    @app.exception_handler(UnknownCollection)
    async def _unknown_collection(_: Request, e: UnknownCollection) -> JSONResponse:
        return error(404, "unknown_collection", str(e))

    @app.exception_handler(InvalidPolicy)
    async def _invalid_policy(_: Request, e: InvalidPolicy) -> JSONResponse:
        return error(422, "invalid_policy", str(e))

    @app.exception_handler(UnsupportedFile)
    async def _unsupported(_: Request, e: UnsupportedFile) -> JSONResponse:
        return error(400 if e.reason == "empty" else 415, e.reason, e.message)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, _: BodyTooLarge) -> JSONResponse:
        limit = get_settings().max_upload_bytes
        return error(413, "too_large", f"the file is larger than the limit of {limit} bytes")

    @app.exception_handler(BadForm)
    async def _bad_form(_: Request, e: BadForm) -> JSONResponse:
        return error(422, "bad_form", str(e))

    @app.exception_handler(IdempotencyConflict)
    async def _idempotency(_: Request, e: IdempotencyConflict) -> JSONResponse:
        return error(409, "idempotency_conflict", str(e))

    return app


app = create_app()
