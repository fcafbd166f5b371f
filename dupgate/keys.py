"""API keys: random tokens of one tenant with scopes, stored only as their SHA-256.

Who calls is a `Caller`: the key's id (the actor in the audit trail), its tenant ("*" for every
tenant) and its scopes. `upload` sends and checks images and reads its own uploads; `read`
reads everything of the tenant; `admin` does everything, including collections, policies,
review, the blocklist, webhooks and keys.
"""

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dupgate.events import record_event
from dupgate.models import ApiKey

PREFIX = "dg_"
SCOPES = ("upload", "read", "admin")
ALL_TENANTS = "*"
DEFAULT_TENANT = "default"
TENANT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class InvalidKeyRequest(ValueError):
    """A key that cannot be made as asked; the message says why."""


class UnknownKey(LookupError):
    """No key with that id is visible to the caller."""


class Forbidden(PermissionError):
    """The key is valid but may not do this; the message says which scope or tenant it lacks."""


@dataclass(frozen=True)
class Caller:
    """The holder of a valid key."""

    key_id: str | None  # None for the bootstrap key and the operator, which are not stored
    tenant: str  # ALL_TENANTS for a key over every tenant
    scopes: frozenset[str]
    name: str = "bootstrap"  # the actor's name when there is no key id

    @property
    def actor(self) -> str:
        """How the audit trail names this caller."""
        return self.key_id or self.name

    @property
    def all_tenants(self) -> bool:
        return self.tenant == ALL_TENANTS

    def can(self, scope: str) -> bool:
        """Whether the key has `scope`; admin can do everything."""
        return scope in self.scopes or "admin" in self.scopes

    def require(self, scope: str) -> None:
        """Forbidden unless the key has `scope`."""
        if not self.can(scope):
            have = ", ".join(sorted(self.scopes)) or "none"
            raise Forbidden(f"this API key lacks the {scope!r} scope (it has: {have})")

    def sees(self, tenant: str) -> bool:
        """Whether things of `tenant` are visible to this caller."""
        return self.all_tenants or self.tenant == tenant

    def tenant_for_new(self, requested: str | None) -> str:
        """The tenant a thing this caller creates belongs to."""
        if requested is None:
            return DEFAULT_TENANT if self.all_tenants else self.tenant
        check_tenant_name(requested)
        if not self.all_tenants and requested != self.tenant:
            raise Forbidden(f"this API key acts for tenant {self.tenant!r} only")
        return requested


BOOTSTRAP = Caller(None, ALL_TENANTS, frozenset({"admin"}))
# Whoever runs the `dupgate` command on a host with the database: may do everything.
OPERATOR = Caller(None, ALL_TENANTS, frozenset({"admin"}), name="system")


def check_tenant_name(tenant: str) -> None:
    """InvalidKeyRequest unless `tenant` is a usable tenant name."""
    if not TENANT_PATTERN.match(tenant):
        raise InvalidKeyRequest(
            f"tenant {tenant!r} is not a valid name: 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(
    session: Session, tenant: str, scopes: list[str], name: str | None = None
) -> tuple[ApiKey, str]:
    """Make a key; the plain key is returned once and never stored."""
    if tenant != ALL_TENANTS:
        check_tenant_name(tenant)
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise InvalidKeyRequest(
            f"scopes must be one or more of {', '.join(SCOPES)}, not {scopes or 'none'}"
        )
    key = PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        id=str(uuid.uuid4()),
        key_hash=hash_key(key),
        name=name,
        tenant=tenant,
        scopes=sorted(set(scopes)),
    )
    session.add(row)
    session.flush()
    return row, key


def authenticate(session: Session, key: str, bootstrap_key: str | None) -> Caller | None:
    """The caller holding `key`, or None when it is neither the bootstrap key nor a stored one."""
    if bootstrap_key and hmac.compare_digest(key.encode(), bootstrap_key.encode()):
        return BOOTSTRAP
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
    if row is None:
        return None
    return Caller(row.id, row.tenant, frozenset(row.scopes))


def issue_key(
    session: Session, caller: Caller, tenant: str | None, scopes: list[str], name: str | None
) -> tuple[ApiKey, str]:
    """Make a key for `tenant` (the caller's own when None) as `caller`, and audit it.

    Only a key over every tenant may make another one; the plain key is returned once.
    """
    if tenant == ALL_TENANTS and not caller.all_tenants:
        raise Forbidden("only a key over every tenant can make another one")
    tenant = ALL_TENANTS if tenant == ALL_TENANTS else caller.tenant_for_new(tenant)
    row, key = create_key(session, tenant, scopes, name)
    record_event(
        session,
        "key.created",
        tenant=tenant,
        actor=caller.actor,
        data={"key_id": row.id, "scopes": row.scopes, "name": row.name},
    )
    return row, key


def revoke_key(session: Session, caller: Caller, key_id: str) -> None:
    """Revoke a key the caller sees (UnknownKey otherwise): it stops working at once."""
    row = session.get(ApiKey, key_id)
    if row is None or not caller.sees(row.tenant):
        raise UnknownKey(f"no API key with id {key_id}")
    record_event(
        session, "key.deleted", tenant=row.tenant, actor=caller.actor, data={"key_id": row.id}
    )
    session.delete(row)


def visible_keys(session: Session, caller: Caller) -> list[ApiKey]:
    """The keys the caller may list: its tenant's, or all of them for an all-tenant key."""
    query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if not caller.all_tenants:
        query = query.where(ApiKey.tenant == caller.tenant)
    return list(session.scalars(query))


def key_view(row: ApiKey) -> dict[str, Any]:
    """A key as the API lists it (never the key itself)."""
    return {
        "id": row.id,
        "tenant": row.tenant,
        "scopes": row.scopes,
        "name": row.name,
        "created_at": row.created_at.isoformat(),
    }
