"""Per-key rate limits on uploads and /check: a token bucket per API key, kept in Redis.

In Redis so that every gateway process (and host) draws from the same bucket. Redis away
means no limit rather than no service: the limit protects capacity, it is no security boundary.
"""

import logging
import math
from typing import Annotated

import redis
import redis.asyncio
from fastapi import Depends

from dupgate.events.notify import redis_url
from dupgate.gateway.deps import ServicesDep, UploadCaller
from dupgate.tenancy.keys import Caller

log = logging.getLogger(__name__)

# Refill by elapsed time (Redis's clock, the same for every gateway), take one token if there
# is one; answers {1, 0} or {0, seconds until a token}.
TOKEN_BUCKET = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1e6
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = math.min(burst, (tonumber(state[1]) or burst) + (now - (tonumber(state[2]) or now)) * rate)
local allowed, wait = 0, (1 - tokens) / rate
if tokens >= 1 then allowed, tokens, wait = 1, tokens - 1, 0 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return {allowed, tostring(wait)}
"""


class RateLimited(Exception):
    """The key sent more than its rate allows."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(
            f"too many uploads and checks with this API key; retry in {self.retry_after} s"
        )


_clients: dict[str, redis.asyncio.Redis] = {}


async def take_token(url: str, bucket: str, per_second: float, burst: int) -> None:
    """Take one token from the bucket, or raise RateLimited with the seconds until one is back."""
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis.asyncio.Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2
        )
    try:
        allowed, wait = await client.eval(
            TOKEN_BUCKET, 1, f"dupgate:rate:{bucket}", per_second, burst
        )
    except redis.RedisError:
        log.warning("rate limits are off: Redis does not answer", exc_info=True)
        return
    if not int(allowed):
        raise RateLimited(float(wait))


async def rate_limited_upload_caller(caller: UploadCaller, services: ServicesDep) -> Caller:
    """The caller, once its key has a token left for one more upload or check (429 if not)."""
    settings = services.settings
    if settings.rate_limit_per_second > 0:
        await take_token(
            redis_url(settings),
            caller.key_id or "bootstrap",
            settings.rate_limit_per_second,
            settings.rate_limit_burst,
        )
    return caller


RateLimitedUploadCaller = Annotated[Caller, Depends(rate_limited_upload_caller)]
