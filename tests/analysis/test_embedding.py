import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dupgate.analysis import Embedder, load_embedder
from dupgate.analysis.embedding import INPUT_SIZE
from tests.analysis.conftest import dataset_file


def test_onnx_embedder_returns_one_unit_vector_per_picture(embedder: Embedder):
    photo = Image.open(dataset_file("imagenet-sample/n01440764_tench.JPEG"))
    vectors = embedder.embed([photo, Image.new("RGB", (300, 200), (30, 90, 160))])
    assert vectors.shape == (2, 512) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.dim == 512


def test_onnx_embedder_of_an_empty_batch_is_empty(embedder: Embedder):
    assert embedder.embed([]).shape == (0, 512)


def test_onnx_session_is_created_once_per_process():
    assert load_embedder("onnx") is load_embedder("onnx")


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="unknown embedder backend"):
        load_embedder("tensorflow")


def test_torchscript_backend_without_a_model_path_is_refused():
    with pytest.raises(ValueError, match="model_path"):
        load_embedder("torchscript")


def test_torchscript_backend_feeds_imagenet_normalised_nchw_to_a_saved_model(tmp_path: Path):
    pytest.importorskip("torch")
    import torch

    class ChannelMeans(torch.nn.Module):
        """Stands in for SSCD: (n, 3, h, w) -> (n, 512), each channel's mean repeated."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            assert x.shape[1] == 3
            return x.mean(dim=(2, 3)).repeat(1, 171)[:, :512]

    path = tmp_path / "tiny_sscd.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated in 2.13
        torch.jit.script(ChannelMeans()).save(str(path))
    embedder = load_embedder("torchscript", str(path), "cpu")

    vectors = embedder.embed([Image.new("RGB", (50, 30), (255, 0, 128))] * 2, INPUT_SIZE)
    normalised = (np.array([1.0, 0.0, 128 / 255]) - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    expected = np.resize(normalised, 512)
    expected /= np.linalg.norm(expected)
    assert vectors.shape == (2, 512) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors[0], expected, atol=1e-4)
    assert embedder.name.startswith("sscd-torchscript")
