"""API keys: random tokens, stored only as their SHA-256."""

import hashlib
import hmac
import secrets
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from dupgate.models import ApiKey

PREFIX = "dg_"


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, name: str | None = None) -> tuple[ApiKey, str]:
    """Make a key; the plain key is returned once and never stored."""
    key = PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(id=str(uuid.uuid4()), key_hash=hash_key(key), name=name)
    session.add(row)
    return row, key


def is_valid(session: Session, key: str, bootstrap_key: str | None) -> bool:
    """Whether `key` is the bootstrap key or a stored one."""
    if bootstrap_key and hmac.compare_digest(key.encode(), bootstrap_key.encode()):
        return True
    return session.scalar(select(ApiKey.id).where(ApiKey.key_hash == hash_key(key))) is not None
