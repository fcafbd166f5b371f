"""Request dependencies: the database session, the process's services and who calls (key, scope)."""

from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from dupgate.readiness import broker_url, check_broker
from dupgate.services import Services, get_services
from dupgate.store.db import read_scope, session_scope
from dupgate.tenancy.keys import Caller, authenticate
from dupgate.vocabulary import Scope


async def services() -> Services:
    # async: a plain function dependency costs a trip through the thread pool per request.
    return get_services()


ServicesDep = Annotated[Services, Depends(services)]


def session(request: Request, services: ServicesDep) -> Iterator[Session]:
    """The request's unit of work: one transaction, committed when the route returns without
    error, then the work registered with `dupgate.unit_of_work.after_commit` runs.

    A GET reads one snapshot and writes nothing (the database refuses it), so on SQLite it
    waits for no writer and holds up none.
    """
    if request.method in ("GET", "HEAD"):
        with read_scope(services.database_url) as snapshot:
            yield snapshot
    else:
        with session_scope(services.database_url) as s:
            yield s


# scope="function": the transaction commits before the response is sent, so a client that
# gets 200 and asks again at once sees what it wrote. The transaction begins at the first
# statement, so a route that streams a body before it writes holds no lock meanwhile.
SessionDep = Annotated[Session, Depends(session, scope="function")]


def _authenticate(request: Request, services: Services, session: Session) -> Caller:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key:
        raise HTTPException(
            401,
            "missing API key: send `Authorization: Bearer <key>` (make one with `dupgate keys create`)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    found = authenticate(session, key.strip(), services.settings.bootstrap_key)
    if found is None:
        raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})
    return found


def caller(request: Request, services: ServicesDep, session: SessionDep) -> Caller:
    """Who calls, read in the request's transaction: every /v1 endpoint needs
    `Authorization: Bearer <key>`."""
    return _authenticate(request, services, session)


def caller_outside_transaction(request: Request, services: ServicesDep) -> Caller:
    """Who calls, read in a snapshot of its own, for the routes that stream a body or wait
    (uploads, /check, long-polls): the request's transaction must not be open meanwhile."""
    with read_scope(services.database_url) as snapshot:
        return _authenticate(request, services, snapshot)


CallerDep = Annotated[Caller, Depends(caller)]
CallerOutsideTransaction = Annotated[Caller, Depends(caller_outside_transaction)]


def _with_scope(
    scope: Scope, who_calls: Callable[..., Caller] = caller
) -> Callable[..., Awaitable[Caller]]:
    async def check(who: Annotated[Caller, Depends(who_calls)]) -> Caller:
        who.require(scope)
        return who

    return check


# The caller, once it is known to have the scope (403 otherwise); admin has every scope.
UploadCaller = Annotated[Caller, Depends(_with_scope(Scope.UPLOAD, caller_outside_transaction))]
ReadCaller = Annotated[Caller, Depends(_with_scope(Scope.READ))]
AdminCaller = Annotated[Caller, Depends(_with_scope(Scope.ADMIN))]
AdminCallerOutsideTransaction = Annotated[
    Caller, Depends(_with_scope(Scope.ADMIN, caller_outside_transaction))
]


class BrokerUnavailable(Exception):
    """The task queue does not answer: work accepted now could not be started."""


def require_broker(services: Services) -> None:
    """Raise BrokerUnavailable (a 503) unless the broker answers at once."""
    check = check_broker(broker_url(services.settings))
    if not check.ok:
        raise BrokerUnavailable(check.error)
