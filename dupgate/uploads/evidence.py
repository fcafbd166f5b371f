"""Why an upload was matched: what the verification stage found for it and one of its matches."""

from dataclasses import dataclass

from sqlalchemy.orm import Session

from dupgate.analysis import Features
from dupgate.errors import NotFound
from dupgate.matching.verify import Evidence, evidence
from dupgate.store.models import Image, ImageFeatures, Upload


class UnknownMatch(NotFound):
    """The image is not one of the upload's matches."""

    def __init__(self, upload_id: str, image_id: str) -> None:
        super().__init__(f"image {image_id} is not a match of upload {upload_id}")


@dataclass(frozen=True)
class MatchEvidence:
    """The verification's evidence for an upload and a matched image (None: none to show, e.g.
    an exact copy whose keypoints were never compared, or features from before verification)."""

    upload_id: str
    image_id: str
    found: Evidence | None


def match_evidence(session: Session, upload: Upload, image_id: str) -> MatchEvidence:
    """Run the verification stage again on the stored features of the upload and its match.

    Reads only stored features (no decoding); the same `verify` code that scored the pair
    finds the matched keypoints and the region the two pictures share.
    """
    if image_id not in {m["image_id"] for m in upload.matches}:
        raise UnknownMatch(upload.id, image_id)
    image = session.get(Image, image_id)
    query = _local(session, upload.sha256)
    candidate = _local(session, image.sha256) if image is not None else None
    if query is None or candidate is None or query.local is None or candidate.local is None:
        return MatchEvidence(upload.id, image_id, None)
    return MatchEvidence(upload.id, image_id, evidence(query.local, candidate.local))


def _local(session: Session, sha256: str) -> Features | None:
    row = session.get(ImageFeatures, sha256)
    return Features.from_bytes(row.data) if row is not None else None
