"""The review queue: held uploads, completed by a person; and "not a duplicate" verdicts."""

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from dupgate.curation.not_duplicates import declare_not_duplicate
from dupgate.gateway.deps import AdminCaller, ServicesDep, SessionDep
from dupgate.gateway.errors import CONFLICT
from dupgate.gateway.fields import BodyId, PathId, one_of
from dupgate.gateway.pagination import Page, Pages
from dupgate.gateway.routes.collections import CollectionName
from dupgate.gateway.schemas.images import NotDuplicate
from dupgate.gateway.schemas.uploads import HeldUpload, Upload
from dupgate.tenancy.visibility import (
    visible_collection,
    visible_image,
    visible_upload,
    visible_video,
)
from dupgate.uploads.review import HELD, Review, held_uploads, review_upload
from dupgate.vocabulary import REVIEW_ACTIONS

router = APIRouter(tags=["review"])


@router.get("/collections/{collection}/review")
def review_queue(
    collection: CollectionName,
    session: SessionDep,
    caller: AdminCaller,
    pages: Pages,
) -> Page[HeldUpload]:
    """Uploads the policy held, oldest first, each with its matches and a link to its bytes."""
    visible_collection(session, caller, collection)
    held = held_uploads(session, collection, after=pages.after(HELD), limit=pages.limit)
    return Page[HeldUpload].of(held, HeldUpload.held)


class ReviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Checked by the domain, which says which actions a review takes (422).
    action: Annotated[
        str,
        Field(
            max_length=20,
            description="accept, link, overwrite or reject",
            json_schema_extra=one_of(REVIEW_ACTIONS),
        ),
    ]
    image_id: BodyId | None = Field(
        None, description="for link and overwrite: the image; the best match when left out"
    )
    video_id: BodyId | None = Field(
        None,
        description="for link and overwrite of a video upload: the video; the best match when "
        "left out",
    )
    not_duplicate: StrictBool = Field(
        False,
        description="with accept: the upload is not a duplicate of its matches, and the same "
        "pictures are never flagged against each other again",
    )


@router.post("/uploads/{upload_id}/review", responses=CONFLICT)
def review(
    upload_id: PathId,
    body: ReviewRequest,
    services: ServicesDep,
    session: SessionDep,
    caller: AdminCaller,
) -> Upload:
    """Complete a held upload: accept, link, overwrite or reject, through the same commit path."""
    upload = visible_upload(session, caller, upload_id)
    review_upload(
        session,
        services.store,
        upload_id,
        Review(body.action, body.video_id or body.image_id, body.not_duplicate),
        caller,
    )
    # The same row, refreshed by the review (one identity per session).
    return Upload.of(upload)


class NotDuplicateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image_ids: list[BodyId] | None = Field(None, min_length=2, max_length=2)
    video_ids: list[BodyId] | None = Field(None, min_length=2, max_length=2)

    @model_validator(mode="after")
    def one_pair(self) -> "NotDuplicateRequest":
        if (self.image_ids is None) == (self.video_ids is None):
            raise ValueError("send one pair: `image_ids` or `video_ids`")
        return self


@router.post("/not-duplicates", status_code=201)
def not_duplicate(
    body: NotDuplicateRequest, session: SessionDep, caller: AdminCaller
) -> NotDuplicate:
    """Say two images (or two videos) are not duplicates: they are never flagged against each
    other again, in uploads or scans."""
    if body.video_ids is not None:
        va, vb = (visible_video(session, caller, i) for i in body.video_ids)
        created = declare_not_duplicate(session, caller, va, vb)
        return NotDuplicate(video_ids=[va.id, vb.id], created=created)
    assert body.image_ids is not None
    a, b = (visible_image(session, caller, i) for i in body.image_ids)
    created = declare_not_duplicate(session, caller, a, b)
    return NotDuplicate(image_ids=[a.id, b.id], created=created)
