"""The long-lived parts one process needs: settings, blob store, embedder and index cache."""

from dataclasses import dataclass
from functools import cached_property, lru_cache

from dupgate.analysis import Embedder, load_embedder
from dupgate.matching.registry import IndexRegistry
from dupgate.settings import Settings, get_settings
from dupgate.store.blobs import BlobStore, LocalBlobStore
from dupgate.store.s3 import S3BlobStore, s3_client


@dataclass
class Services:
    """Built once per process; everything in it can be rebuilt from settings and the database."""

    settings: Settings

    @cached_property
    def registry(self) -> IndexRegistry:
        """Each collection's index, from the backend the settings choose."""
        return IndexRegistry(self.settings.index_backend)

    @cached_property
    def store(self) -> BlobStore:
        """The blob store the settings choose."""
        return blob_store(self.settings)

    @cached_property
    def embedder(self) -> Embedder:
        """The SSCD embedder (loaded on first use: the gateway needs it only for /check)."""
        s = self.settings
        return load_embedder(
            s.embedder_backend, s.embedder_model_path, s.embedder_device, threads=s.analysis_threads
        )

    @property
    def database_url(self) -> str:
        """The database URL."""
        return self.settings.resolved_database_url


def blob_store(settings: Settings) -> BlobStore:
    """The local store under the data directory, or the S3 bucket (DUPGATE_BLOB_STORE)."""
    if settings.blob_store == "local":
        return LocalBlobStore(settings.blob_dir)
    assert settings.s3_bucket is not None  # the settings refuse s3 without a bucket
    secret = settings.s3_secret_access_key
    client = s3_client(
        settings.s3_endpoint_url,
        settings.s3_region,
        settings.s3_access_key_id,
        secret.get_secret_value() if secret else None,
    )
    return S3BlobStore(client, settings.s3_bucket, settings.s3_prefix)


@lru_cache
def get_services() -> Services:
    """This process's services."""
    return Services(get_settings())
