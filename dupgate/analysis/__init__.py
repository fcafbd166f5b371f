"""Image analysis: from uploaded bytes to the features matching needs, computed once per upload."""

from dupgate.analysis.decode import InvalidImage
from dupgate.analysis.embedding import Embedder, load_embedder
from dupgate.analysis.features import ANALYSIS_VERSION, Features, analyze

__all__ = ["ANALYSIS_VERSION", "Embedder", "Features", "InvalidImage", "analyze", "load_embedder"]
