"""Error answers: one JSON shape for every status, and the statuses the OpenAPI declares."""

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

# The code of an HTTPException that names none, by status.
STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "body_timeout",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    503: "unavailable",
    507: "insufficient_storage",
}


class FieldError(BaseModel):
    """One value a request got wrong (never the value itself: it may be a secret)."""

    loc: list[str | int] = Field(description="where: body, query, path or header, then names")
    msg: str
    type: str


class ErrorBody(BaseModel):
    """Every error answer: `detail` for people, `code` for programs."""

    detail: str
    code: str
    errors: list[FieldError] | None = Field(
        None, description="for invalid_request: each value that was wrong"
    )


ERROR_BODY_REF = "#/components/schemas/ErrorBody"


def _declared(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"model": ErrorBody, "description": STATUS_CODES[status]} for status in statuses
    }


# Statuses any /v1 endpoint may answer (a body too large or too slow, a key missing or without
# the scope, an id that names nothing, a value out of bounds, a part of the system unavailable).
COMMON_ERRORS = _declared(400, 401, 403, 404, 408, 413, 422, 429, 503, 507)
# Endpoints that may also answer a conflict, or refuse a kind of file.
CONFLICT = _declared(409)
UNSUPPORTED_FILE = _declared(415)


def error(
    status: int,
    code: str,
    message: str,
    *,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An error as JSON: `detail` for people (FastAPI's own key), `code` for programs."""
    body = ErrorBody(detail=message, code=code, errors=errors)
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True), status_code=status, headers=headers
    )
