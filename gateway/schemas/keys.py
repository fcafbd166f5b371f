"""API keys."""

from dupgate.gateway.schemas.common import Schema, Timestamp
from dupgate.vocabulary import Scope


class ApiKey(Schema):
    """A key as listed (never the key itself)."""

    id: str
    tenant: str
    scopes: list[Scope]
    name: str | None
    created_at: Timestamp


class NewKey(Schema):
    """A key just made: `key` is shown here only (it is stored hashed)."""

    id: str
    key: str
    tenant: str
    scopes: list[Scope]
