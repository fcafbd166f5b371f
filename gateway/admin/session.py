"""The console's session: a signed, HttpOnly, SameSite=Lax cookie made at sign-in with an
admin API key, and the CSRF token every form sends back.

The cookie holds no key: only the key's id (or, for the bootstrap key, a fingerprint of it), a
random CSRF token and the sign-in time, signed with HMAC-SHA256. Each request loads the key
again, so a revoked key (or a changed bootstrap key) ends its sessions at once.
"""

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from sqlalchemy.orm import Session

from dupgate.gateway.deps import ServicesDep, SessionDep
from dupgate.services import Services
from dupgate.settings import Settings
from dupgate.store.models import ApiKey
from dupgate.tenancy.keys import BOOTSTRAP, Caller, authenticate
from dupgate.vocabulary import Scope

COOKIE = "dupgate_console"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
_SECRET_FILE = "console-secret"


class SignInRequired(Exception):
    """No valid console session: the browser is sent to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__("sign in with an admin API key")
        self.next_path = next_path


class CsrfRefused(Exception):
    """A form without the session's CSRF token: refused (403), nothing done."""


class SignInRefused(ValueError):
    """The key given at sign-in is unknown or not an admin key; the message says which."""


@dataclass(frozen=True)
class Visit:
    """What the cookie says: who signed in (None: nobody yet) and the session's CSRF token."""

    key_id: str | None
    bootstrap: str | None  # a fingerprint of the bootstrap key it signed in with
    csrf: str
    signed_in_at: float

    @property
    def signed_in(self) -> bool:
        return self.key_id is not None or self.bootstrap is not None


@dataclass(frozen=True)
class Admin:
    """A signed-in console user: the caller its key is, and its session's CSRF token."""

    caller: Caller
    csrf: str


def console_secret(settings: Settings) -> bytes:
    """The secret cookies are signed with: the setting, or in development one kept in the data
    directory (made on first use, readable by its owner only)."""
    if settings.console_secret is not None:
        return settings.console_secret.get_secret_value().encode()
    path = settings.data_dir / _SECRET_FILE
    if not path.exists():
        _write_new_secret(path)
    return path.read_bytes().strip()


def _write_new_secret(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(48))
    try:
        # Another gateway process may have made it first: theirs wins, everyone reads one.
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, b"dupgate-console." + payload.encode(), hashlib.sha256).digest())


def sign(secret: bytes, visit: Visit) -> str:
    """The cookie's value for `visit`."""
    payload = _b64(
        json.dumps(
            {"k": visit.key_id, "b": visit.bootstrap, "c": visit.csrf, "t": visit.signed_in_at},
            separators=(",", ":"),
        ).encode()
    )
    return f"{payload}.{_signature(secret, payload)}"


def unsign(secret: bytes, value: str, max_age: float, now: float | None = None) -> Visit | None:
    """The visit a cookie value holds, or None when it is forged, malformed or too old."""
    payload, _, signature = value.partition(".")
    if not hmac.compare_digest(signature.encode(), _signature(secret, payload).encode()):
        return None
    try:
        fields: dict[str, Any] = json.loads(_unb64(payload))
        visit = Visit(fields["k"], fields["b"], str(fields["c"]), float(fields["t"]))
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None
    if (now if now is not None else time.time()) - visit.signed_in_at > max_age:
        return None
    return visit


def bootstrap_fingerprint(secret: bytes, bootstrap_key: str) -> str:
    """Names the bootstrap key in a cookie without holding it: changing the key ends sessions."""
    return _b64(hmac.new(secret, b"bootstrap." + bootstrap_key.encode(), hashlib.sha256).digest())


def new_visit(key_id: str | None = None, bootstrap: str | None = None) -> Visit:
    """A fresh session (a new CSRF token), signed in or not."""
    return Visit(key_id, bootstrap, secrets.token_urlsafe(32), time.time())


def read_visit(request: Request, services: Services) -> Visit | None:
    """The request's session, if its cookie is valid."""
    value = request.cookies.get(COOKIE)
    if not value:
        return None
    settings = services.settings
    return unsign(console_secret(settings), value, settings.console_session_seconds)


def set_cookie(response: Response, services: Services, visit: Visit) -> None:
    """Give the browser `visit` as the session cookie."""
    settings = services.settings
    response.set_cookie(
        COOKIE,
        sign(console_secret(settings), visit),
        max_age=settings.console_session_seconds,
        path="/admin",
        secure=settings.console_secure_cookie,
        httponly=True,
        samesite="lax",
    )


def clear_cookie(response: Response, services: Services) -> None:
    response.delete_cookie(
        COOKIE,
        path="/admin",
        secure=services.settings.console_secure_cookie,
        httponly=True,
        samesite="lax",
    )


def sign_in(session: Session, services: Services, key: str) -> Visit:
    """A signed-in session for an admin key; SignInRefused for any other."""
    caller = authenticate(session, key.strip(), services.settings.bootstrap_key)
    if caller is None:
        raise SignInRefused("that API key is not valid")
    if not caller.can(Scope.ADMIN):
        raise SignInRefused("the console needs a key with the admin scope")
    if caller is BOOTSTRAP:
        secret = console_secret(services.settings)
        assert services.settings.bootstrap_key is not None
        return new_visit(bootstrap=bootstrap_fingerprint(secret, services.settings.bootstrap_key))
    return new_visit(key_id=caller.key_id)


def _caller_of(session: Session, services: Services, visit: Visit) -> Caller | None:
    """The caller a session stands for, while its key is still valid and admin."""
    if visit.key_id is not None:
        row = session.get(ApiKey, visit.key_id)
        if row is None:
            return None
        caller = Caller(row.id, row.tenant, frozenset(Scope(s) for s in row.scopes))
        return caller if caller.can(Scope.ADMIN) else None
    bootstrap_key = services.settings.bootstrap_key
    if visit.bootstrap is None or not bootstrap_key:
        return None
    expected = bootstrap_fingerprint(console_secret(services.settings), bootstrap_key)
    return BOOTSTRAP if hmac.compare_digest(visit.bootstrap, expected) else None


def signed_in(request: Request, services: ServicesDep, session: SessionDep) -> Admin:
    """The signed-in admin, read in the request's transaction; SignInRequired otherwise."""
    visit = read_visit(request, services)
    caller = _caller_of(session, services, visit) if visit and visit.signed_in else None
    if visit is None or caller is None:
        target = request.url.path if request.method == "GET" else "/admin"
        raise SignInRequired(target)
    return Admin(caller, visit.csrf)


async def console_admin(request: Request, admin: Annotated[Admin, Depends(signed_in)]) -> Admin:
    """The signed-in admin; a request that changes anything must carry the session's CSRF
    token (the form's `csrf` field, or the X-CSRF-Token header), else CsrfRefused."""
    if request.method not in ("GET", "HEAD"):
        check_csrf(await _sent_token(request), admin.csrf)
    return admin


async def _sent_token(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    form = await request.form()
    value = form.get(CSRF_FIELD)
    return value if isinstance(value, str) else ""


def check_csrf(sent: str, expected: str) -> None:
    """CsrfRefused unless `sent` is the session's token."""
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRefused("this form is stale or did not come from the console: reload the page")


ConsoleAdmin = Annotated[Admin, Depends(console_admin)]
