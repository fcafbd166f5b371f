"""Liveness and readiness (outside /v1, and outside the OpenAPI document)."""

from typing import Literal

from dupgate.gateway.schemas.common import Schema, omitted
from dupgate.readiness import Check


class Health(Schema):
    """The process answers."""

    status: Literal["ok"]


class ReadinessCheck(Schema):
    """One dependency: up or not, how long asking took, and why not."""

    ok: bool
    ms: float
    error: str | None = omitted("why it is not up")

    @classmethod
    def of(cls, check: Check) -> "ReadinessCheck":
        return cls(ok=check.ok, ms=round(check.ms, 1), error=check.error)


class Readiness(Schema):
    """Whether every dependency (database, broker, storage) is up."""

    status: Literal["ready", "unavailable"]
    checks: dict[str, ReadinessCheck]
