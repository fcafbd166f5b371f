"""Analysis for the gateway, run on the workers: the web process never decodes an image.

Decoding a large image takes hundreds of megabytes for a moment, and the allocator keeps much
of it: ten concurrent /checks of one 8000×8000 PNG left the gateway at 9 GB. The gateway
stages the bytes in the blob store (which every worker host shares), enqueues
`dupgate.workers.tasks.analyse_staged` with the blob's key and a request id, and waits for the answer
on a Redis list named after the request (BLPOP, no polling). The workers are where memory for
decoding is budgeted and scaled (any number of hosts, a process each); a pool inside the
gateway would need its own memory budget on every gateway host instead.
"""

import json
import uuid

import redis
import redis.asyncio

from dupgate.analysis import Features, InvalidImage
from dupgate.analysis.video import InvalidVideo, VideoFeatures

Result = Features | VideoFeatures

ANSWER_TTL_SECONDS = 300


class AnalysisUnavailable(Exception):
    """No worker answered in time (all busy, or none running)."""


def new_request_id() -> str:
    """A fresh id for one analysis request."""
    return uuid.uuid4().hex


def answer_key(request_id: str) -> str:
    """The Redis list a worker pushes the answer of `request_id` to."""
    return f"dupgate:analysis:{request_id}"


def encode_answer(result: Result | InvalidImage) -> bytes:
    """An answer as bytes: the features (an image's or a video's), or why the file is invalid."""
    if isinstance(result, InvalidImage):
        video = isinstance(result, InvalidVideo)
        error = {"reason": result.reason, "message": result.message, "video": video}
        return b"E" + json.dumps(error).encode()
    if isinstance(result, VideoFeatures):
        return b"V" + result.to_bytes()
    return b"F" + result.to_bytes()


def decode_answer(payload: bytes) -> Result:
    """The features in an answer; raises InvalidImage (or InvalidVideo) for an invalid file."""
    if payload[:1] == b"E":
        error = json.loads(payload[1:])
        if error.get("video"):
            raise InvalidVideo(error["reason"], error["message"])
        raise InvalidImage(error["reason"], error["message"])
    if payload[:1] == b"V":
        return VideoFeatures.from_bytes(payload[1:])
    return Features.from_bytes(payload[1:])


def send_answer(url: str, request_id: str, result: Result | InvalidImage) -> None:
    """Hand the result to the waiting gateway (worker side)."""
    client = redis.Redis.from_url(url, socket_timeout=10)
    try:
        key = answer_key(request_id)
        pipe = client.pipeline()
        pipe.rpush(key, encode_answer(result))
        pipe.expire(key, ANSWER_TTL_SECONDS)
        pipe.execute()
    finally:
        client.close()


async def receive_answer(url: str, request_id: str, timeout: float) -> Result:
    """Wait for the worker's answer (gateway side): features, InvalidImage or AnalysisUnavailable."""
    client = redis.asyncio.Redis.from_url(url, socket_timeout=timeout + 5)
    try:
        popped = await client.blpop([answer_key(request_id)], timeout=timeout)
    except redis.RedisError as e:
        raise AnalysisUnavailable(f"the broker is unreachable: {type(e).__name__}") from e
    finally:
        await client.aclose()
    if popped is None:
        raise AnalysisUnavailable(
            f"no worker analysed the image within {timeout:.0f} s; retry shortly"
        )
    payload = popped[1]
    return decode_answer(payload if isinstance(payload, bytes) else payload.encode())
