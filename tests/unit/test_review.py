"""Reviewing held uploads against concurrent changes to the collections they are checked against."""

import threading
from functools import partial
from pathlib import Path

from sqlalchemy import select

from dupgate.analysis import Embedder, load_embedder
from dupgate.matching.registry import IndexRegistry
from dupgate.store.blobs import LocalBlobStore
from dupgate.store.db import session_scope
from dupgate.store.locking import lock_collections
from dupgate.store.models import Image, Upload
from dupgate.tenancy.collections import PolicyChange, put_collection
from dupgate.tenancy.keys import BOOTSTRAP
from dupgate.uploads.commit import delete_image
from dupgate.uploads.review import Review, review_upload
from tests.conftest import photo
from tests.images import resized_jpeg
from tests.unit.test_upload_pipeline import process, stage

TRIALS = 24


def upload(
    database_url: str, store: LocalBlobStore, embedder: Embedder, collection: str, content: bytes
) -> Upload:
    """Stage the bytes and run the upload as a worker would; returns the decided upload."""
    upload_id = stage(database_url, store, content, collection)
    return process(database_url, store, embedder, IndexRegistry(), upload_id)


def delete_as_the_api_does(database_url: str, store: LocalBlobStore, image_id: str) -> None:
    with session_scope(database_url) as s:
        image = s.get(Image, image_id)
        assert image is not None
        lock_collections(s, [image.collection])
        s.expire_all()
        image = s.get(Image, image_id)
        if image is not None:
            delete_image(s, store, image, "test")


def link_as_a_reviewer_does(database_url: str, store: LocalBlobStore, upload_id: str) -> None:
    with session_scope(database_url) as s:
        review_upload(s, store, upload_id, Review("link"), BOOTSTRAP)


def test_linking_a_held_upload_while_its_target_is_deleted_leaves_no_dangling_link(
    database_url: str, tmp_path: Path
) -> None:
    # "shop" holds its duplicates of "catalog" images for review. A reviewer links a held upload
    # to the catalog image while an admin deletes that image: either the link is made first and
    # deleted with its image, or the review finds no image to link to. Never a link to nothing.
    embedder = load_embedder("onnx")
    store = LocalBlobStore(tmp_path / "blobs")
    with session_scope(database_url) as s:
        put_collection(s, "catalog", PolicyChange(), BOOTSTRAP)
        hold = {"exact": "hold", "near": "hold", "unique": "accept"}
        put_collection(s, "shop", PolicyChange(actions=hold, check_against=["catalog"]), BOOTSTRAP)
    original = photo("n01443537").read_bytes()
    copy = resized_jpeg(photo("n01443537"))

    errors: list[BaseException] = []
    for _ in range(TRIALS):
        image_id = upload(database_url, store, embedder, "catalog", original).image_id
        assert image_id is not None
        held = upload(database_url, store, embedder, "shop", copy)
        assert (held.action, held.matches[0]["image_id"]) == ("held", image_id)

        start = threading.Barrier(2)

        def run(step: partial[None], start: threading.Barrier = start) -> None:
            start.wait()
            try:
                step()
            except Exception as e:  # the loser of the race may be refused; it must not corrupt
                errors.append(e)

        threads = [
            threading.Thread(
                target=run, args=(partial(delete_as_the_api_does, database_url, store, image_id),)
            ),
            threading.Thread(
                target=run, args=(partial(link_as_a_reviewer_does, database_url, store, held.id),)
            ),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)

    with session_scope(database_url) as s:
        links = s.scalars(select(Image).where(Image.linked_to.is_not(None))).all()
        dangling = [i.id for i in links if s.get(Image, i.linked_to) is None]
    assert dangling == [], f"{len(dangling)} of {TRIALS} trials left a link to a deleted image"
    # A review that lost the race is refused with a reason, not a server error.
    assert all(type(e).__name__ == "InvalidReview" for e in errors), errors
