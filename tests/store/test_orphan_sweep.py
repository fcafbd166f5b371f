"""The sweep of blobs that no upload or image refers to, on both stores."""

from datetime import UTC, datetime, timedelta

from dupgate.store.blobs import BlobStore
from dupgate.store.db import session_scope
from dupgate.store.models import Image, ImageFeatures, Upload, Video, VideoFeaturesRow
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


def committed_image(database_url: str, store: BlobStore) -> str:
    """An image as a commit leaves it: its blob, and its row naming it."""
    key = "images/img-1/" + "1" * 64
    store.put(key, iter([b"a committed image"]))
    with session_scope(database_url) as s:
        s.add(ImageFeatures(sha256="1" * 64, version=1, data=b""))
        s.flush()
        s.add(
            Image(
                id="img-1",
                collection="shop",
                sha256="1" * 64,
                blob_key=key,
                width=1,
                height=1,
                format="PNG",
                size=17,
            )
        )
    return key


def committed_video(database_url: str, store: BlobStore) -> str:
    """A video as a commit leaves it: its blob, and its row naming it."""
    key = "videos/vid-1/" + "3" * 64
    store.put(key, iter([b"a committed video"]))
    with session_scope(database_url) as s:
        s.add(VideoFeaturesRow(sha256="3" * 64, version=1, data=b""))
        s.flush()
        s.add(
            Video(
                id="vid-1",
                collection="shop",
                sha256="3" * 64,
                blob_key=key,
                width=1,
                height=1,
                duration=1.0,
                format="MP4",
                size=17,
            )
        )
    return key


def test_only_old_blobs_that_no_upload_or_image_keeps_are_removed(
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
    kept_image = committed_image(database_url, store)
    kept_video = committed_video(database_url, store)
    # Copied by a commit that a crash stopped before it was durable: no image has it.
    store.put("images/never-committed/sha", iter([b"an image of a lost commit"]))
    store.put("videos/never-committed/sha", iter([b"a video of a lost commit"]))
    # Previews: of the image's bytes, the video's, the waiting upload's, and a rejected copy's.
    kept_previews = [f"previews/{sha * 64}.jpg" for sha in "130"]
    for key in [*kept_previews, f"previews/{'2' * 64}.jpg"]:
        store.put(key, iter([b"a small jpeg"]))

    with session_scope(database_url) as s:
        assert sweep_orphaned_blobs(s, store, GRACE) == []  # all younger than the grace

    later = datetime.now(UTC) + 2 * GRACE
    with session_scope(database_url) as s:
        removed = sweep_orphaned_blobs(s, store, GRACE, now=later)
    assert len(removed) == 6 and committed in removed
    assert "checks/request-1" in removed and "images/never-committed/sha" in removed
    assert "videos/never-committed/sha" in removed
    assert f"previews/{'2' * 64}.jpg" in removed
    left = sorted(
        blob.key
        for prefix in ("staging/", "checks/", "images/", "videos/", "previews/")
        for blob in store.list(prefix)
    )
    assert left == sorted([waiting, kept_image, kept_video, *kept_previews])
    assert store.get(waiting) == b"staged bytes"
