"""Vector store adapter: Qdrant, embedded (`QdrantClient(path=...)`) by default or a server by URL.

Point ids are uuid5 of the chunk id, so re-upserting a chunk updates it. Replacing a document's points
upserts the new points first and then deletes the document's other points, so a document never has zero
points while it is being replaced.

Every point has two named vectors: `dense` (the embedding model's, cosine) and `sparse` (BM25 term weights of
`docmill.embedding.sparse`, with Qdrant's `idf` modifier), so an application can query either or fuse both.
A collection of the old layout (one unnamed dense vector) is migrated when it is opened (`ensure_collection`):
its points are copied with their dense vectors, and sparse vectors computed from their payload text, into a
collection of the new layout; nothing is embedded again.

Size: one adapter class with its layout and its migration; 300+ lines because each write keeps both vectors.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from docmill.embedding.sparse import SparseEncoder
from docmill.records import Chunk, SemanticMatch, SparseVector

log = logging.getLogger(__name__)

DENSE = "dense"  # the named vectors of every point
SPARSE = "sparse"


class StoreUnavailable(RuntimeError):
    """The vector store cannot be reached or opened."""


def point_payload(item: Chunk, run_id: str) -> dict[str, Any]:
    """Text, metadata and lineage stored with every point."""
    return {
        **item.stored_metadata(),
        "text": item.text,
        "doc_id": item.doc_id,
        "chunk_id": item.chunk_id,
        "chunk_index": item.index,
        "char_start": item.char_start,
        "char_end": item.char_end,
        "page_start": item.page_start,
        "page_end": item.page_end,
        "token_count": item.token_count,
        "run_id": run_id,
    }


_ROW_FIELDS = ("text", "doc_id", "chunk_id", "chunk_index", "char_start", "char_end", "page_start", "page_end")


def row_payload(row: Mapping[str, Any]) -> dict[str, Any]:
    """The payload `point_payload` gave a chunk, rebuilt from its dataset row (Parquet columns of a dataset
    version: `metadata` as JSON, the chunk fields, and `run_id` when the version has it)."""
    payload = {**json.loads(row["metadata"] or "{}"), **{k: row[k] for k in _ROW_FIELDS}}
    payload["token_count"] = row["token_count"]
    if row.get("run_id") is not None:
        payload["run_id"] = row["run_id"]
    return payload


F = TypeVar("F", bound=Callable[..., Any])


def _connection_error(exc: BaseException) -> bool:
    import httpx
    from qdrant_client.http.exceptions import ResponseHandlingException

    return isinstance(exc, ResponseHandlingException | httpx.TransportError | ConnectionError)


def _reachable(method: F) -> F:
    """One call at a time (the flow publishes from a thread of its own, and the embedded client is not
    thread-safe); a server that cannot be reached raises StoreUnavailable naming its URL (retried by the flow)."""

    @functools.wraps(method)
    def wrapper(self: QdrantStore, *args: Any, **kwargs: Any) -> Any:
        try:
            with self.lock:
                return method(self, *args, **kwargs)
        except Exception as exc:
            if self.is_server and _connection_error(exc):
                raise StoreUnavailable(f"Qdrant unreachable at {self.location}: {exc}") from exc
            raise

    return wrapper  # type: ignore[return-value]


def _as_list(vector: Any) -> list[float]:
    return [] if vector is None else np.asarray(vector, dtype=np.float32).tolist()


def _vectors(dense: Any, sparse: SparseVector) -> dict[str, Any]:
    """A point's named vectors."""
    from qdrant_client import models

    return {DENSE: _as_list(dense), SPARSE: models.SparseVector(indices=sparse.indices, values=sparse.values)}


def _filter(filters: Mapping[str, Any]) -> Any:
    """Payload keys that must equal the values (a string of digits matches the string or the integer)."""
    from qdrant_client import models

    if not filters:
        return None
    must: list[Any] = []
    for key, value in filters.items():
        if isinstance(value, str) and value.lstrip("-").isdigit():
            options = [models.FieldCondition(key=key, match=models.MatchValue(value=v)) for v in (value, int(value))]
            must.append(models.Filter(should=options))  # type: ignore[arg-type]
        else:
            must.append(models.FieldCondition(key=key, match=models.MatchValue(value=value)))
    return models.Filter(must=must)


class QdrantStore:
    """One collection in Qdrant."""

    def __init__(
        self,
        collection: str,
        url: str | None = None,
        path: Path | None = None,
        api_key: str | None = None,
        write_batch: int = 128,
        sparse: SparseEncoder | None = None,
    ) -> None:
        from qdrant_client import QdrantClient

        self.collection = collection
        self.write_batch = write_batch
        self.sparse = sparse or SparseEncoder()  # for points written from payloads (restore, migration)
        self.lock = threading.RLock()
        self.location = url or str(path)
        self.is_server = bool(url)
        try:
            if url:
                self.client = QdrantClient(url=url, api_key=api_key, timeout=30)
            else:
                assert path is not None
                path.mkdir(parents=True, exist_ok=True)
                # calls come from the flow's thread and its publishing thread, one at a time (`self.lock`): SQLite
                # builds that refuse a connection from another thread (THREADSAFE=2, macOS) allow it serialised
                self.client = QdrantClient(path=str(path), force_disable_check_same_thread=True)
        except Exception as exc:
            raise StoreUnavailable(f"cannot open Qdrant at {self.location}: {exc}") from exc

    @_reachable
    def ensure_collection(self, dimension: int) -> None:
        """Create the collection (named `dense` cosine and `sparse` IDF vectors, keyword index on doc_id), or
        check its dimension; a collection of the old layout is migrated first (see the module).

        Raises:
            ValueError: when the existing collection has another vector size (a different model).
        """
        staging = self._staging()
        if self.client.collection_exists(self.collection):
            if self._legacy(self.collection):
                self._migrate(dimension)
            elif self.client.collection_exists(staging):  # a migration stopped after the copy: finish it
                self._copy(staging, self.collection)
                self.client.delete_collection(staging)
            size = self._dimension(self.collection)
            if size != dimension:
                raise ValueError(
                    f"collection {self.collection!r} holds {size}-d vectors but the model makes {dimension}-d: "
                    "use another embed.collection for another model"
                )
            return
        self._create(self.collection, dimension)
        if self.client.collection_exists(staging):  # stopped between dropping the old layout and the copy back
            self._copy(staging, self.collection)
            self.client.delete_collection(staging)

    def _staging(self) -> str:
        return f"{self.collection}--migrating"

    def _create(self, name: str, dimension: int) -> None:
        from qdrant_client import models

        self.client.create_collection(
            name,
            vectors_config={DENSE: models.VectorParams(size=dimension, distance=models.Distance.COSINE)},
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
        )
        if self.is_server:  # the embedded store scans payloads and warns about indexes
            self.client.create_payload_index(name, "doc_id", models.PayloadSchemaType.KEYWORD)

    def _legacy(self, name: str) -> bool:
        """True for the old layout: one unnamed dense vector."""
        from qdrant_client import models

        return isinstance(self.client.get_collection(name).config.params.vectors, models.VectorParams)

    def _dimension(self, name: str) -> int:
        vectors = self.client.get_collection(name).config.params.vectors
        return int(vectors[DENSE].size)  # type: ignore[index]

    def _migrate(self, dimension: int) -> None:
        """Old layout -> named dense + sparse vectors: copy every point into a staging collection of the new
        layout (sparse vectors from the payload text), then recreate the collection and copy them back. A
        migration stopped midway starts again (the old collection is still there) or finishes from the staging
        copy (it is not)."""
        old = self.client.get_collection(self.collection).config.params.vectors
        size = int(old.size)  # type: ignore[union-attr]
        if size != dimension:
            raise ValueError(
                f"collection {self.collection!r} holds {size}-d vectors but the model makes {dimension}-d: "
                "use another embed.collection for another model"
            )
        staging = self._staging()
        if self.client.collection_exists(staging):
            self.client.delete_collection(staging)
        self._create(staging, size)
        copied = self._copy(self.collection, staging)
        self.client.delete_collection(self.collection)
        self._create(self.collection, size)
        self._copy(staging, self.collection)
        self.client.delete_collection(staging)
        log.info("collection %r: %d points migrated to named dense and sparse vectors", self.collection, copied)

    def _copy(self, source: str, target: str) -> int:
        """Copy every point of `source` into `target` (new layout), a page at a time; returns how many."""
        from qdrant_client import models

        copied, offset = 0, None
        while True:
            page, offset = self.client.scroll(
                source, limit=self.write_batch, offset=offset, with_payload=True, with_vectors=True
            )
            points = []
            for record in page:
                vector = record.vector
                dense = vector[DENSE] if isinstance(vector, dict) else vector
                kept = vector.get(SPARSE) if isinstance(vector, dict) else None
                sparse = (
                    SparseVector(list(kept.indices), list(kept.values))
                    if isinstance(kept, models.SparseVector)
                    else self._of_payload(record.payload or {})  # the old layout: from the payload text
                )
                points.append(models.PointStruct(id=record.id, vector=_vectors(dense, sparse), payload=record.payload))
            if points:
                self.client.upsert(target, points=points, wait=True)
            copied += len(points)
            if offset is None:
                return copied

    def _of_payload(self, payload: dict[str, Any]) -> SparseVector:
        from docmill.embedding.sparse import payload_text

        language = payload.get("chunk_language") or payload.get("language")
        return self.sparse.document(payload_text(payload), language)

    @_reachable
    def replace_document(self, doc_id: str, chunks: list[Chunk], run_id: str, previous: Iterable[str] = ()) -> None:
        """Make `chunks` the only points of `doc_id`: upsert first, then delete the rest.

        A server deletes the rest by an indexed `doc_id` filter. The embedded store has no payload index (a filter
        scans every point, which made publishing quadratic in the store's size), so it deletes `previous` (the
        document's point ids the catalog knows) minus the new ones; `sweep` catches any point the catalog never
        knew (an interrupted run)."""
        from qdrant_client import models

        for start in range(0, len(chunks), self.write_batch):
            part = chunks[start : start + self.write_batch]
            self.client.upsert(
                self.collection,
                points=[
                    models.PointStruct(
                        id=c.point_id,
                        vector=_vectors(c.vector, c.sparse if c.sparse is not None else self.sparse.chunk(c)),
                        payload=point_payload(c, run_id),
                    )
                    for c in part
                ],
                wait=True,
            )
        keep: list[models.ExtendedPointId] = [c.point_id for c in chunks]
        if not self.is_server:
            self._delete_ids([p for p in previous if p not in set(keep)])
            return
        self.client.delete(
            self.collection,
            points_selector=models.FilterSelector(
                filter=models.Filter(
                    must=[models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc_id))],
                    must_not=[models.HasIdCondition(has_id=keep)] if keep else [],
                )
            ),
            wait=True,
        )

    def _delete_ids(self, ids: list[str]) -> None:
        from qdrant_client import models

        for start in range(0, len(ids), self.write_batch):
            part: list[models.ExtendedPointId] = list(ids[start : start + self.write_batch])
            self.client.delete(self.collection, points_selector=models.PointIdsList(points=part), wait=True)

    @_reachable
    def update_documents(self, fields: dict[str, dict[str, Any]], point_ids: dict[str, list[str]]) -> None:
        """Overwrite payload keys of every point of each document (doc_id -> keys; None removes the key);
        vectors stay. The embedded store addresses the points by their ids (`point_ids`, doc_id -> ids), a server
        by the `doc_id` filter."""
        from qdrant_client import models

        for doc_id, values in fields.items():
            points: models.Filter | list[models.ExtendedPointId]
            if self.is_server:
                points = models.Filter(
                    must=[models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc_id))]
                )
            else:  # only the ids that exist: a publish killed midway may have deleted some the catalog still lists
                ids = point_ids.get(doc_id, [])
                points = [p.id for p in self.client.retrieve(self.collection, ids, with_payload=False)] if ids else []
                if not points:
                    continue
            present = {k: v for k, v in values.items() if v is not None}
            absent = [k for k, v in values.items() if v is None]
            self.client.set_payload(self.collection, payload=present, points=points, wait=True)
            if absent:
                self.client.delete_payload(self.collection, keys=absent, points=points, wait=True)

    @_reachable
    def delete_documents(self, doc_ids: Iterable[str], point_ids: Iterable[str] = ()) -> None:
        """Remove every point of these documents: a server by the `doc_id` filter, the embedded store by the
        documents' point ids (`point_ids`, from the catalog; see `replace_document`)."""
        from qdrant_client import models

        ids = list(doc_ids)
        if not self.is_server:
            self._delete_ids(list(point_ids))
        elif ids:
            self.client.delete(
                self.collection,
                points_selector=models.FilterSelector(
                    filter=models.Filter(must=[models.FieldCondition(key="doc_id", match=models.MatchAny(any=ids))])
                ),
                wait=True,
            )

    @_reachable
    def sweep(self, expected: set[str]) -> int:
        """Delete every point whose id is not in `expected` (the catalog's point ids); returns how many went.
        Scans the whole collection: run it only when `count()` disagrees with the catalog."""
        stray: list[str] = []
        offset: Any = None
        while True:
            records, offset = self.client.scroll(
                self.collection, limit=1000, offset=offset, with_payload=False, with_vectors=False
            )
            stray += [str(r.id) for r in records if str(r.id) not in expected]
            if offset is None:
                break
        self._delete_ids(stray)
        return len(stray)

    @_reachable
    def exists(self) -> bool:
        """True when the collection exists."""
        return bool(self.client.collection_exists(self.collection))

    @_reachable
    def drop(self) -> None:
        """Delete the collection and its points."""
        self.client.delete_collection(self.collection)

    @_reachable
    def upsert(self, ids: list[str], vectors: Any, payloads: list[dict[str, Any]]) -> None:
        """Write points as given (ids, float32 dense vectors as rows of an array, payloads), `write_batch` at a
        time; each point's sparse vector is computed from its payload's text."""
        from qdrant_client import models

        for start in range(0, len(ids), self.write_batch):
            end = start + self.write_batch
            points = [
                models.PointStruct(id=i, vector=_vectors(v, self._of_payload(p)), payload=p)
                for i, v, p in zip(ids[start:end], vectors[start:end], payloads[start:end], strict=True)
            ]
            self.client.upsert(self.collection, points=points, wait=True)

    @_reachable
    def search(
        self,
        dense: Any | None,
        sparse: SparseVector | None,
        filters: Mapping[str, Any] | None = None,
        k: int = 10,
        candidates: int = 50,
        lexical_weight: int = 1,
    ) -> list[tuple[float, str, dict[str, Any]]]:
        """The `k` best points as (score, point id, payload): by the dense vector, the sparse one, or both fused
        by reciprocal rank (one Query API call, each side prefetching `candidates`; the sparse side's ranks count
        `lexical_weight` times, a whole number: its prefetch is listed that often, which plain RRF weighs the same
        way in local mode and on a server); `filters` match payload keys exactly (a value that reads as a number
        also matches the number)."""
        from qdrant_client import models

        condition = _filter(filters or {})
        queries: list[tuple[Any, str]] = []
        if dense is not None:
            queries.append((_as_list(dense), DENSE))
        if sparse is not None and sparse.indices:
            queries.append((models.SparseVector(indices=sparse.indices, values=sparse.values), SPARSE))
        if not queries:
            return []
        if len(queries) == 1:
            query, using = queries[0]
            found = self.client.query_points(
                self.collection, query=query, using=using, query_filter=condition, limit=k, with_payload=True
            )
        else:
            times = {DENSE: 1, SPARSE: max(1, lexical_weight)}
            prefetch = [
                models.Prefetch(query=q, using=u, filter=condition, limit=max(candidates, k))
                for q, u in queries
                for _ in range(times[u])
            ]
            found = self.client.query_points(
                self.collection,
                prefetch=prefetch,
                query=models.FusionQuery(fusion=models.Fusion.RRF),
                query_filter=condition,
                limit=k,
                with_payload=True,
            )
        return [(float(p.score), str(p.id), dict(p.payload or {})) for p in found.points]

    @_reachable
    def nearest(
        self, vectors: Any, threshold: float, exclude_docs: Iterable[str] = (), unflagged: str | None = None
    ) -> list[SemanticMatch | None]:
        """For each dense vector (rows), the nearest point whose cosine reaches `threshold` (its chunk id, doc_id
        and cosine), or None. Points of `exclude_docs` are never answered, nor (`unflagged` set) points whose payload
        has that key. Batches of `write_batch` queries, one Query API call each, for the `_CANDIDATES` nearest
        points over the threshold: the excluded documents (possibly every document, when all are processed again)
        are left out here, and only a vector whose candidates were all excluded is asked again with them in the
        filter."""
        from qdrant_client import models

        excluded = set(exclude_docs)
        must = [models.IsEmptyCondition(is_empty=models.PayloadField(key=unflagged))] if unflagged else []
        rows = list(vectors)
        found = self._nearest(rows, threshold, models.Filter(must=must) if must else None, excluded)  # type: ignore[arg-type]
        again = [i for i, hit in enumerate(found) if hit is False]  # every candidate excluded: ask with the filter
        if again:
            strict = models.Filter(
                must=must,  # type: ignore[arg-type]
                must_not=[models.FieldCondition(key="doc_id", match=models.MatchAny(any=sorted(excluded)))],
            )
            for i, hit in zip(again, self._nearest([rows[i] for i in again], threshold, strict, set()), strict=True):
                found[i] = hit
        return [hit or None for hit in found]

    _CANDIDATES = 16

    def _nearest(self, rows: list[Any], threshold: float, condition: Any, excluded: set[str]) -> list[Any]:
        """Per vector: the nearest candidate not of `excluded`, None when there is none over the threshold, False
        when every one of the `_CANDIDATES` was excluded (there may be more)."""
        from qdrant_client import models

        found: list[Any] = []
        for start in range(0, len(rows), self.write_batch):
            requests = [
                models.QueryRequest(
                    query=_as_list(v),
                    using=DENSE,
                    filter=condition,
                    limit=self._CANDIDATES if excluded else 1,
                    score_threshold=threshold - 1e-6,  # float32: identical vectors may score 0.9999999
                    with_payload=["chunk_id", "doc_id"],
                )
                for v in rows[start : start + self.write_batch]
            ]
            for response in self.client.query_batch_points(self.collection, requests=requests):
                kept = [p for p in response.points if (p.payload or {}).get("doc_id") not in excluded]
                if kept:
                    top, payload = kept[0], kept[0].payload or {}
                    found.append(SemanticMatch(str(payload["chunk_id"]), str(payload["doc_id"]), min(1.0, top.score)))
                else:
                    found.append(False if len(response.points) == self._CANDIDATES else None)
        return found

    @_reachable
    def count(self) -> int:
        """Number of points in the collection."""
        return int(self.client.count(self.collection, exact=True).count)

    def close(self) -> None:
        """Release the client (and the embedded store's folder lock)."""
        with self.lock:
            self.client.close()
