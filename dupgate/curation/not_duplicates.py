"""Pairs of pictures (or videos) a person said are not duplicates: never flagged against each
other again.

A pair is stored by the SHA-256 of the two files' bytes, per tenant, so the verdict holds for
those very pictures or videos wherever they are uploaded again, in uploads and in scans alike.
"""

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dupgate.events.audit import record_event
from dupgate.store.models import Image, NotDuplicate, Video
from dupgate.tenancy.keys import Caller
from dupgate.tenancy.visibility import visible_collection


class InvalidNotDuplicate(ValueError):
    """Two images (or videos) that cannot be declared not duplicates; the message says why."""


def declare_not_duplicate(
    session: Session, caller: Caller, a: Image | Video, b: Image | Video
) -> bool:
    """A person says images (or videos) `a` and `b` are not duplicates: they are never flagged
    against each other again, in uploads or scans. False if that was known already."""
    noun = "videos" if isinstance(a, Video) else "images"
    tenant = visible_collection(session, caller, a.collection).tenant
    if visible_collection(session, caller, b.collection).tenant != tenant:
        raise InvalidNotDuplicate(f"the two {noun} belong to different tenants")
    if a.sha256 == b.sha256:
        raise InvalidNotDuplicate(f"the two {noun} have identical bytes: they are duplicates")
    created = mark_not_duplicate(session, tenant, a.sha256, b.sha256, caller.actor)
    if created:
        record_event(
            session,
            f"{noun}.not_duplicate",
            tenant=tenant,
            actor=caller.actor,
            collection=a.collection,
            data={f"{noun[:-1]}_ids": [a.id, b.id]},
        )
    return created


def mark_not_duplicate(session: Session, tenant: str, sha_a: str, sha_b: str, actor: str) -> bool:
    """Remember that the two pictures are not duplicates; False if it was known already."""
    if sha_a == sha_b:
        raise ValueError("identical bytes are always duplicates of each other")
    first, second = sorted((sha_a, sha_b))
    if session.scalar(
        select(NotDuplicate.id).where(
            NotDuplicate.tenant == tenant,
            NotDuplicate.sha256_a == first,
            NotDuplicate.sha256_b == second,
        )
    ):
        return False
    try:
        with session.begin_nested():
            session.add(NotDuplicate(tenant=tenant, sha256_a=first, sha256_b=second, actor=actor))
    except IntegrityError:
        return False  # a concurrent request stored the same pair
    return True


def not_duplicates_of(session: Session, tenant: str, sha256: str) -> set[str]:
    """The pictures (by SHA-256) that a person said are not duplicates of this one."""
    rows = session.execute(
        select(NotDuplicate.sha256_a, NotDuplicate.sha256_b).where(
            NotDuplicate.tenant == tenant,
            or_(NotDuplicate.sha256_a == sha256, NotDuplicate.sha256_b == sha256),
        )
    ).all()
    return {b if a == sha256 else a for a, b in rows}


def not_duplicate_pairs(session: Session, tenant: str) -> set[frozenset[str]]:
    """Every pair of the tenant, for scans that compare a whole collection."""
    rows = session.execute(
        select(NotDuplicate.sha256_a, NotDuplicate.sha256_b).where(NotDuplicate.tenant == tenant)
    ).all()
    return {frozenset(row) for row in rows}
