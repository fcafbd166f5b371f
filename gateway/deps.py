"""Request dependencies: the database session, the process's services and the API key check."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from dupgate.db import get_sessionmaker
from dupgate.keys import is_valid
from dupgate.services import Services, get_services


def services() -> Services:
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


def require_key(request: Request, services: ServicesDep) -> None:
    """Every /v1 endpoint needs `Authorization: Bearer <key>`."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key:
        raise HTTPException(
            401,
            "missing API key: send `Authorization: Bearer <key>` (make one with `dupgate keys create`)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    s = get_sessionmaker(services.database_url)()
    try:
        valid = is_valid(s, key.strip(), services.settings.bootstrap_key)
    finally:
        s.close()
    if not valid:
        raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})
