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
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from dupgate.errors import NotFound
from dupgate.events.audit import record_event
from dupgate.store.models import ApiKey
from dupgate.store.paging import Key, Order, Slice, read_page
from dupgate.vocabulary import Scope, listing, parse

PREFIX = "dg_"


ALL_TENANTS = "*"


DEFAULT_TENANT = "default"


TENANT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class InvalidKeyRequest(ValueError):
    """A key that cannot be made as asked; the message says why."""


class Forbidden(PermissionError):
    """The key is valid but may not do this; the message says which scope or tenant it lacks."""


class UnknownKey(NotFound):
    """No API key by that id that the caller may see."""

    code = "unknown_key"

    def __init__(self, key_id: str) -> None:
        super().__init__(f"no API key with id {key_id}")


@dataclass(frozen=True)
class Caller:
    """The holder of a valid key."""

    key_id: str | None  # None for the bootstrap key and the operator, which are not stored
    tenant: str  # ALL_TENANTS for a key over every tenant
    scopes: frozenset[Scope]
    name: str = "bootstrap"  # the actor's name when there is no key id

    @property
    def actor(self) -> str:
        """How the audit trail names this caller."""
        return self.key_id or self.name

    @property
    def all_tenants(self) -> bool:
        return self.tenant == ALL_TENANTS

    def can(self, scope: Scope) -> bool:
        """Whether the key has `scope`; admin can do everything."""
        return scope in self.scopes or Scope.ADMIN in self.scopes

    def require(self, scope: Scope) -> None:
        """Forbidden unless the key has `scope`."""
        if not self.can(scope):
            have = ", ".join(sorted(self.scopes)) or "none"
            raise Forbidden(f"this API key lacks the {scope.value!r} scope (it has: {have})")

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


BOOTSTRAP = Caller(None, ALL_TENANTS, frozenset({Scope.ADMIN}))


# Whoever runs the `dupgate` command on a host with the database: may do everything.
OPERATOR = Caller(None, ALL_TENANTS, frozenset({Scope.ADMIN}), name="system")


# The order keys are listed in.
KEYS = Order(ApiKey.created_at, ApiKey.id)


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


def parse_scopes(scopes: Iterable[str]) -> frozenset[Scope]:
    """The scopes named; InvalidKeyRequest for none, or for a name that is no scope."""
    named = list(scopes)
    parsed = {parse(Scope, s) for s in named}
    if not named or None in parsed:
        raise InvalidKeyRequest(
            f"scopes must be one or more of {listing(Scope)}, not {named or 'none'}"
        )
    return frozenset(s for s in parsed if s is not None)


def create_key(
    session: Session, tenant: str, scopes: Iterable[str], name: str | None = None
) -> tuple[ApiKey, str]:
    """Make a key; the plain key is returned once and never stored."""
    if tenant != ALL_TENANTS:
        check_tenant_name(tenant)
    granted = parse_scopes(scopes)
    key = PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        id=str(uuid.uuid4()),
        key_hash=hash_key(key),
        name=name,
        tenant=tenant,
        scopes=sorted(s.value for s in granted),
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
    return Caller(row.id, row.tenant, frozenset(Scope(s) for s in row.scopes))


def issue_key(
    session: Session, caller: Caller, tenant: str | None, scopes: Iterable[str], name: str | None
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
    row = visible_key(session, caller, key_id)
    record_event(
        session, "key.deleted", tenant=row.tenant, actor=caller.actor, data={"key_id": row.id}
    )
    session.delete(row)


def visible_keys(
    session: Session, caller: Caller, *, after: Key | None = None, limit: int = 100
) -> Slice[ApiKey]:
    """A page of the keys the caller may list: its tenant's (all of them for an all-tenant key),
    oldest first."""
    query = select(ApiKey)
    if not caller.all_tenants:
        query = query.where(ApiKey.tenant == caller.tenant)
    return read_page(session, query, KEYS, after, limit)


def visible_key(session: Session, caller: Caller, key_id: str) -> ApiKey:
    """The key if the caller may see it; UnknownKey otherwise."""
    row = session.get(ApiKey, key_id)
    if row is None or not caller.sees(row.tenant):
        raise UnknownKey(key_id)
    return row
