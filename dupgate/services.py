"""The long-lived parts one process needs: settings, blob store, embedder and index cache."""

from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from dupgate.analysis import Embedder, load_embedder
from dupgate.matching.registry import IndexRegistry
from dupgate.settings import Settings, get_settings
from dupgate.store.blobs import BlobStore, LocalBlobStore


@dataclass
class Services:
    """Built once per process; everything in it can be rebuilt from settings and the database."""

    settings: Settings
    registry: IndexRegistry = field(default_factory=IndexRegistry)

    @cached_property
    def store(self) -> BlobStore:
        """The blob store."""
        return LocalBlobStore(self.settings.blob_dir)

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


@lru_cache
def get_services() -> Services:
    """This process's services."""
    return Services(get_settings())
