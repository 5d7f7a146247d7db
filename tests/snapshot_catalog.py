"""A real catalog filled with a few documents' chunks (unit vectors, real metadata keys) for snapshot tests
that do not need the pipeline itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from docmill.records import Chunk, make_chunk_id, sha256_hex
from docmill.state.catalog import Catalog

DIM = 8


def fill_catalog(path: Path, documents: int, chunks_per_doc: int = 3, run_id: str = "run-1") -> Catalog:
    """A catalog at `path` with `documents` documents of `chunks_per_doc` chunks each."""
    catalog = Catalog(path)
    catalog.start_run(run_id, "cfg0123456789abc", "0.1.0")
    rng = np.random.default_rng(0)
    with catalog.transaction():
        for d in range(documents):
            doc_id = sha256_hex(f"document {d}")
            department = "finance" if d % 3 == 0 else "legal"
            meta = {
                "source_uri": f"file:///corpus/{department}/doc-{d:03d}.txt",
                "source_path": f"/corpus/{department}/doc-{d:03d}.txt",
                "file_type": "txt" if d % 2 else "pdf",
                "language": "de" if d % 4 == 0 else "en",
                "department": department,
                "file_mtime": f"2025-{1 + d % 12:02d}-15T10:00:00+00:00",
                "model": "sentence-transformers/all-MiniLM-L6-v2@test",
                "parser": "text",
                "document_quality": {"alpha_word_share": round(0.5 + (d % 5) / 10, 2), "mean_word_length": 5.0},
                "pii": {"email": 1} if d % 5 == 0 else {},
            }
            chunks = []
            for i in range(chunks_per_doc):
                text = f"Document {d} part {i}: the quarterly report of the {department} team."
                vector = rng.normal(size=DIM).astype(np.float32)
                chunks.append(
                    Chunk(
                        make_chunk_id(doc_id, i, text),
                        doc_id,
                        i,
                        text,
                        12,
                        i * 100,
                        i * 100 + len(text),
                        1,
                        1,
                        dict(meta),
                        vector / np.linalg.norm(vector),
                    )
                )
            catalog.replace_chunks(doc_id, chunks, "model@test", run_id)
    return catalog
