"""Request dependencies: the database session, the process's services and who calls (key, scope)."""

from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from dupgate.db import get_sessionmaker, read_only_session
from dupgate.keys import Caller, authenticate
from dupgate.readiness import broker_url, check_broker
from dupgate.services import Services, get_services
from dupgate.vocabulary import Scope


async def services() -> Services:
    # async: a plain function dependency costs a trip through the thread pool per request.
    return get_services()


ServicesDep = Annotated[Services, Depends(services)]


def session(services: ServicesDep) -> Iterator[Session]:
    """One transaction per request, committed when the route returns without error."""
    s = get_sessionmaker(services.database_url)()
    try:
        yield s
        s.commit()
    except BaseException:
        s.rollback()
        raise
    finally:
        s.close()


# scope="function": the transaction commits before the response is sent, so a client that
# gets 200 and asks again at once sees what it wrote.
SessionDep = Annotated[Session, Depends(session, scope="function")]


def caller(request: Request, services: ServicesDep) -> Caller:
    """Who calls: every /v1 endpoint needs `Authorization: Bearer <key>`."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key:
        raise HTTPException(
            401,
            "missing API key: send `Authorization: Bearer <key>` (make one with `dupgate keys create`)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    s = read_only_session(services.database_url)
    try:
        found = authenticate(s, key.strip(), services.settings.bootstrap_key)
    finally:
        s.close()
    if found is None:
        raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})
    return found


CallerDep = Annotated[Caller, Depends(caller)]


def _with_scope(scope: Scope) -> Callable[[Caller], Awaitable[Caller]]:
    async def check(who: CallerDep) -> Caller:
        who.require(scope)
        return who

    return check


# The caller, once it is known to have the scope (403 otherwise); admin has every scope.
UploadCaller = Annotated[Caller, Depends(_with_scope(Scope.UPLOAD))]
ReadCaller = Annotated[Caller, Depends(_with_scope(Scope.READ))]
AdminCaller = Annotated[Caller, Depends(_with_scope(Scope.ADMIN))]


class BrokerUnavailable(Exception):
    """The task queue does not answer: work accepted now could not be started."""


def require_broker(services: Services) -> None:
    """Raise BrokerUnavailable (a 503) unless the broker answers at once."""
    check = check_broker(broker_url(services.settings))
    if not check.ok:
        raise BrokerUnavailable(check.error)
