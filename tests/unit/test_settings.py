"""Settings: development defaults work as they are; production refuses the unsafe ones."""

import pytest
from pydantic import ValidationError

from dupgate.settings import Settings


def test_development_defaults_need_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DUPGATE_DATABASE_URL", "DUPGATE_REDIS_URL", "DUPGATE_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.resolved_database_url.startswith("sqlite:///")
    assert settings.uses_embedded_sqlite


def test_production_refuses_embedded_parts_and_short_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUPGATE_ENVIRONMENT", "production")
    monkeypatch.setenv("DUPGATE_BOOTSTRAP_KEY", "short")
    monkeypatch.delenv("DUPGATE_DATABASE_URL", raising=False)
    monkeypatch.delenv("DUPGATE_REDIS_URL", raising=False)
    with pytest.raises(ValidationError) as e:
        Settings()
    message = str(e.value)
    assert "DUPGATE_DATABASE_URL" in message and "DUPGATE_REDIS_URL" in message
    assert "at least 32 characters" in message


def test_the_s3_blob_store_needs_a_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUPGATE_BLOB_STORE", "s3")
    monkeypatch.delenv("DUPGATE_S3_BUCKET", raising=False)
    with pytest.raises(ValidationError, match="DUPGATE_S3_BUCKET"):
        Settings()
    monkeypatch.setenv("DUPGATE_BLOB_STORE", "nfs")
    with pytest.raises(ValidationError, match="'local' or 's3'"):
        Settings()


def test_production_requires_a_console_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUPGATE_ENVIRONMENT", "production")
    monkeypatch.setenv("DUPGATE_DATABASE_URL", "postgresql://db/dupgate")
    monkeypatch.setenv("DUPGATE_REDIS_URL", "redis://redis:6379/0")
    monkeypatch.delenv("DUPGATE_BOOTSTRAP_KEY", raising=False)
    monkeypatch.delenv("DUPGATE_CONSOLE_SECRET", raising=False)
    with pytest.raises(ValidationError, match="DUPGATE_CONSOLE_SECRET"):
        Settings()
    monkeypatch.setenv("DUPGATE_CONSOLE_SECRET", "x" * 32)
    assert Settings().console_secret is not None
