"""The `chunks` table (every current chunk with its vector and point id) and `embeddings`, the embedding cache
(vectors keyed by the chunk's embedding cache key and model id, which outlives the chunks that produced them).

The `text_hash` column of both tables holds `Chunk.cache_key`: the sha256 of the chunk text when the text is
embedded alone (so older caches stay valid), else a hash of the text's and the embedded text's hashes."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from docmill.records import Chunk
from docmill.state.catalog.base import CatalogBase


class Chunks(CatalogBase):
    """Queries of the `chunks` and `embeddings` tables."""

    def chunks_named(self, ident: str) -> list[sqlite3.Row]:
        """The chunk whose chunk id or Qdrant point id is `ident` (none or one row)."""
        return self.query("SELECT * FROM chunks WHERE chunk_id=? OR point_id=?", (ident, ident))

    def has_chunks(self, doc_id: str) -> bool:
        """Whether a document has chunks in the catalog (it was published)."""
        return self.query("SELECT 1 FROM chunks WHERE doc_id=? LIMIT 1", (doc_id,)) != []

    def delete_chunks(self, doc_ids: Iterable[str]) -> None:
        """Forget the chunks of documents (inside a transaction)."""
        self._execute_many("DELETE FROM chunks WHERE doc_id=?", [(d,) for d in doc_ids])

    def update_chunk_metadata(self, doc_id: str, values: dict[str, Any]) -> None:
        """Merge `values` into the stored metadata of every chunk of a document (None removes a key)."""
        for row in self._execute("SELECT chunk_id, metadata FROM chunks WHERE doc_id=?", (doc_id,)).fetchall():
            meta = {**json.loads(row["metadata"] or "{}"), **values}
            meta = {k: v for k, v in meta.items() if v is not None}
            self._execute("UPDATE chunks SET metadata=? WHERE chunk_id=?", (json.dumps(meta), row["chunk_id"]))

    def cached_vectors(self, text_hashes: list[str], model_key: str) -> dict[str, np.ndarray]:
        """Vectors already computed for these cache keys (`Chunk.cache_key`) with this model (the embedding
        cache, which outlives the documents that produced them; see `prune_embeddings`)."""
        sql = "SELECT text_hash, vector FROM embeddings WHERE model_key=? AND text_hash IN ({marks})"
        rows = self._in_pages(sql, text_hashes, (model_key,))
        return {row["text_hash"]: np.frombuffer(row["vector"], dtype=np.float32) for row in rows}

    def replace_chunks(self, doc_id: str, chunks: list[Chunk], model_key: str, run_id: str) -> None:
        """Make `chunks` the only chunks of `doc_id` (inside a transaction)."""
        self._execute("DELETE FROM chunks WHERE doc_id=?", (doc_id,))
        self._execute_many(
            "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    c.chunk_id,
                    c.doc_id,
                    c.index,
                    c.text,
                    c.cache_key,
                    c.token_count,
                    c.char_start,
                    c.char_end,
                    c.page_start,
                    c.page_end,
                    json.dumps(c.stored_metadata(), sort_keys=True, default=str),
                    model_key,
                    np.asarray(c.vector, dtype=np.float32).tobytes(),
                    c.point_id,
                    run_id,
                )
                for c in chunks
            ],
        )
        self._execute_many(
            "INSERT OR REPLACE INTO embeddings(text_hash, model_key, vector, last_run) VALUES (?, ?, ?, ?)",
            [(c.cache_key, model_key, np.asarray(c.vector, dtype=np.float32).tobytes(), run_id) for c in chunks],
        )

    def point_ids(self, doc_ids: Iterable[str]) -> dict[str, list[str]]:
        """The Qdrant point ids of these documents' current chunks (doc_id -> ids)."""
        out: dict[str, list[str]] = {}
        for row in self._in_pages("SELECT doc_id, point_id FROM chunks WHERE doc_id IN ({marks})", list(doc_ids)):
            out.setdefault(row["doc_id"], []).append(row["point_id"])
        return out

    def all_point_ids(self) -> set[str]:
        """Every current chunk's point id."""
        return {row[0] for row in self._db.execute("SELECT point_id FROM chunks")}

    def prune_embeddings(self, keep_runs: int) -> int:
        """Drop cached vectors no chunk uses that were last used before the `keep_runs` most recent runs."""
        recent = [
            r["run_id"] for r in self.query("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT ?", (keep_runs,))
        ]
        marks = ",".join("?" * len(recent)) or "NULL"
        with self.transaction():
            return self._execute(
                "DELETE FROM embeddings WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.text_hash = "
                "embeddings.text_hash AND c.model_key = embeddings.model_key) "
                f"AND (last_run IS NULL OR last_run NOT IN ({marks}))",
                recent,
            ).rowcount

    def iter_chunks(self, page: int = 2000) -> Iterator[list[sqlite3.Row]]:
        """All current chunks in (doc_id, chunk_index) order, page by page (bounded memory)."""
        last = ("", -1)
        while True:
            rows = self.query(
                "SELECT * FROM chunks WHERE (doc_id, chunk_index) > (?, ?) ORDER BY doc_id, chunk_index LIMIT ?",
                (*last, page),
            )
            if not rows:
                return
            yield rows
            last = (rows[-1]["doc_id"], rows[-1]["chunk_index"])

    def vector_pages(self, model_key: str, page: int = 4096) -> Iterator[list[sqlite3.Row]]:
        """Every current chunk of this model as `chunk_id`, `doc_id`, `vector` (float32 bytes) and `flagged`
        (it carries `semantic_duplicate_of`), page by page in insertion order (bounded memory)."""
        sql = (
            "SELECT rowid, chunk_id, doc_id, vector, metadata LIKE '%\"semantic_duplicate_of\":%' AS flagged "
            "FROM chunks WHERE rowid > ? AND model_key = ? ORDER BY rowid LIMIT ?"
        )
        last = 0
        while rows := self.query(sql, (last, model_key, page)):
            yield rows
            last = rows[-1]["rowid"]

    def semantic_duplicates_of(self, doc_ids: list[str]) -> set[str]:
        """The other documents with a chunk that is a semantic near-duplicate of a chunk of `doc_ids`: flagged
        (`semantic_duplicate_doc` in its metadata) or dropped (a `semantic_duplicate` reject naming the document)."""
        flagged = "SELECT DISTINCT doc_id FROM chunks WHERE metadata LIKE '%semantic_duplicate_doc%' AND "
        flagged += "json_extract(metadata, '$.semantic_duplicate_doc') IN ({marks})"
        dropped = "SELECT DISTINCT doc_id FROM quarantine WHERE reason='semantic_duplicate' AND "
        dropped += "duplicate_of IN ({marks})"
        found = {row[0] for sql in (flagged, dropped) for row in self._in_pages(sql, doc_ids)}
        return found - set(doc_ids)

    def pii_totals(self) -> dict[str, int]:
        """PII values redacted (or flagged) in the current dataset's documents, by type; never the values."""
        totals: dict[str, int] = {}
        rows = self.query(
            "SELECT json_extract(metadata, '$.pii') pii FROM chunks WHERE chunk_index = "
            "(SELECT MIN(chunk_index) FROM chunks c WHERE c.doc_id = chunks.doc_id) AND metadata LIKE '%\"pii\"%'"
        )
        for row in rows:
            for kind, n in json.loads(row["pii"] or "{}").items():
                totals[kind] = totals.get(kind, 0) + int(n)
        return dict(sorted(totals.items()))
