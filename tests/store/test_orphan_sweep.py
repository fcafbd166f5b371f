"""The sweep of staged bytes that no upload refers to, on both stores."""

from datetime import UTC, datetime, timedelta

from dupgate.store.blobs import BlobStore
from dupgate.store.db import session_scope
from dupgate.store.models import Upload
from dupgate.tenancy.collections import PolicyChange, put_collection
from dupgate.tenancy.keys import BOOTSTRAP
from dupgate.uploads.intake import NewUpload, create_upload, new_upload_id
from dupgate.uploads.orphans import sweep_orphaned_blobs

GRACE = timedelta(hours=1)


def staged_upload(database_url: str, store: BlobStore) -> str:
    """An upload recorded as the gateway records one: its bytes staged, then its row."""
    upload_id = new_upload_id()
    key = f"staging/{upload_id}"
    store.put(key, iter([b"staged bytes"]))
    new = NewUpload(collection="shop", staging_key=key, sha256="0" * 64, size=12)
    with session_scope(database_url) as s:
        create_upload(s, upload_id, new)
    return key


def test_only_old_staged_bytes_that_no_upload_keeps_are_removed(
    store: BlobStore, database_url: str
) -> None:
    with session_scope(database_url) as s:
        put_collection(s, "shop", PolicyChange(), BOOTSTRAP)
    waiting = staged_upload(database_url, store)
    committed = staged_upload(database_url, store)
    with session_scope(database_url) as s:
        # Committed, but the clean-up after the commit never ran (the worker died first).
        s.get_one(Upload, committed.removeprefix("staging/")).staging_key = None
    # Staged by a gateway that crashed before it recorded the upload.
    store.put(f"staging/{new_upload_id()}", iter([b"orphan"]))
    store.put("checks/request-1", iter([b"a /check the gateway never cleaned up"]))
    store.put("images/i/sha", iter([b"a committed image"]))

    with session_scope(database_url) as s:
        assert sweep_orphaned_blobs(s, store, GRACE) == []  # all younger than the grace

    later = datetime.now(UTC) + 2 * GRACE
    with session_scope(database_url) as s:
        removed = sweep_orphaned_blobs(s, store, GRACE, now=later)
    assert len(removed) == 3 and committed in removed and "checks/request-1" in removed
    left = sorted(
        blob.key for prefix in ("staging/", "checks/", "images/") for blob in store.list(prefix)
    )
    assert left == sorted([waiting, "images/i/sha"])
    assert store.get(waiting) == b"staged bytes"
