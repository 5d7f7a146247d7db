"""Extract: parse each source file into structural elements, in killable worker processes."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Protocol

from docmill.config.settings import ExtractConfig
from docmill.parsers import Parsed, ParseError
from docmill.records import Document, Reject, SourceFile, StageResult


class Parser(Protocol):
    """What extract needs from a parser pool (see `docmill.parsers.pool.ParserPool`)."""

    def parse_many(self, jobs: list[tuple[str, str, str]]) -> Iterable[tuple[str, Parsed | ParseError]]: ...


def extract(sources: list[SourceFile], config: ExtractConfig, parser: Parser) -> StageResult[Document]:
    """Parse a batch of files. Failures become rejects with the parser's reason code.

    Largest files are handed to the workers first, so a long document does not start last and leave the
    other workers idle at the end of the batch.

    Returns:
        Documents in the order of `sources` (minus rejects).
    """
    started = time.perf_counter()
    by_id = {s.doc_id: s for s in sources}
    result: StageResult[Document] = StageResult(records=[])
    jobs = []
    for source in sources:
        if source.size > config.max_file_mb * 1024 * 1024:
            result.rejects.append(_reject(source, ParseError("too_large", f"{source.size} bytes over max_file_mb")))
        else:
            jobs.append((source.doc_id, source.path, source.extension))
    jobs.sort(key=lambda job: -by_id[job[0]].size)
    parsed: dict[str, Parsed] = {}
    for key, outcome in parser.parse_many(jobs):
        if isinstance(outcome, ParseError):
            result.rejects.append(_reject(by_id[key], outcome))
        else:
            parsed[key] = outcome
    pages = 0
    for source in sources:
        if source.doc_id in parsed:
            out = parsed[source.doc_id]
            pages += int(out.metadata.get("pages", 0) or 0)
            result.records.append(
                Document(
                    source.doc_id,
                    source.source_uri,
                    source.extension.lstrip(".") or "none",
                    out.elements,
                    dict(out.metadata),
                    out.parser,
                )
            )
    return result.finish(len(sources), started, pages=pages)


def _reject(source: SourceFile, error: ParseError) -> Reject:
    return Reject("extract", error.reason, error.message, doc_id=source.doc_id, source_uri=source.source_uri)
