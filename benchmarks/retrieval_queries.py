"""Query sets and metrics of `retrieval_benchmark.py`: what is asked, which chunks are relevant, how a ranking
scores. Pure functions over chunk payloads (`chunk_id`, `text`, `headings`), so the tests check them on small
hand-made inputs.

Relevance always comes from the chunks of the run being measured, never from a list of expected results:
- an identifier query's relevant chunks hold the identifier in their text (both NFKC-normalised and casefolded,
  the identifier not glued to further word characters on either side);
- a section query's relevant chunks carry the heading in their `headings` path (normalised the same way), in
  whichever document (a heading such as `References` heads a section in several);
- a passage query's relevant chunks hold the sentence it was reworded from (whitespace-collapsed): the chunk it
  was taken from, and any other chunk holding the same sentence (the chunk overlap, or a duplicate file).

Metrics, over the ranked chunk ids of a search: recall@k = relevant chunks in the top k over min(relevant, k)
(a heading with 30 chunks can at best fill the top 5; a plain ratio would cap it at 0.17), MRR@k = 1 / rank of
the first relevant chunk in the top k, 0 when none is.
"""

from __future__ import annotations

import ast
import random
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docmill.embedding.sparse import identifiers

Chunk = Mapping[str, Any]  # a point's payload: chunk_id, doc_id, text, headings

MIN_IDENTIFIER = 5  # shorter digit tokens (`150`, `2003`, `WH-1`) are counts and years, not identifiers
SENTENCE_FORMS = ("Which document mentions {}?", "Find the record for {}.", "What do we know about {}?")
# the synonyms of the passage rewording: common words of reports and manuals (either way round)
SYNONYMS = {
    "begin": "start", "buy": "purchase", "big": "large", "help": "assist", "show": "display", "use": "employ",
    "make": "create", "get": "obtain", "need": "require", "end": "finish", "quick": "fast", "small": "little",
    "often": "frequently", "about": "regarding", "shows": "displays", "uses": "employs", "used": "employed",
    "makes": "creates", "needs": "requires", "helps": "assists", "important": "significant", "main": "primary",
    "change": "modify", "changes": "modifications", "check": "verify", "choose": "select", "give": "provide",
    "many": "numerous", "new": "novel", "part": "portion", "people": "persons", "same": "identical",
    "each": "every", "also": "additionally", "however": "nevertheless", "method": "approach", "result": "outcome",
    "results": "outcomes", "problem": "issue", "problems": "issues", "data": "information", "answer": "reply",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Query:
    """One query: its set (`identifiers`, `sections`, `passages`), the text searched for, and the target its
    relevant chunks are found by (the identifier, the heading, the original sentence)."""

    set: str
    text: str
    target: str


def normalise(text: str) -> str:
    """NFKC, casefolded, whitespace runs as one space."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def id_like(text: str) -> list[str]:
    """The identifiers of a text: `docmill.embedding.sparse.identifiers` tokens (a digit inside) of at least
    `MIN_IDENTIFIER` characters, normalised, in order, once each."""
    found = [normalise(token) for token in identifiers(unicodedata.normalize("NFKC", text))]
    return list(dict.fromkeys(token for token in found if len(token) >= MIN_IDENTIFIER))


class Relevance:
    """The relevant chunk ids of a query among one run's chunks (see the module); the chunks are normalised
    once, not once per query."""

    def __init__(self, chunks: Iterable[Chunk]) -> None:
        self.chunks = [
            (str(c["chunk_id"]), normalise(str(c.get("text") or "")), {normalise(h) for h in c.get("headings") or []})
            for c in chunks
        ]

    def __call__(self, query: Query) -> set[str]:
        """The chunk ids relevant to `query`."""
        target = normalise(query.target)
        if query.set == "identifiers":
            found = re.compile(rf"(?<!\w){re.escape(target)}(?!\w)")
            return {chunk_id for chunk_id, text, _ in self.chunks if found.search(text)}
        if query.set == "sections":
            return {chunk_id for chunk_id, _, headings in self.chunks if target in headings}
        return {chunk_id for chunk_id, text, _ in self.chunks if target in text}


def recall_at(ranked: Sequence[str], wanted: set[str], k: int = 5) -> float:
    """Relevant ids in the first `k` over min(len(wanted), k); 0 for no relevant id."""
    if not wanted:
        return 0.0
    return len(wanted.intersection(ranked[:k])) / min(len(wanted), k)


def mrr_at(ranked: Sequence[str], wanted: set[str], k: int = 10) -> float:
    """1 / rank of the first relevant id within the first `k`, else 0."""
    for rank, item in enumerate(ranked[:k], start=1):
        if item in wanted:
            return 1.0 / rank
    return 0.0


def identifier_queries(found: Iterable[str], seed: int = 7) -> list[Query]:
    """Two queries per distinct identifier: verbatim, and inside a short sentence (a form drawn by `seed`)."""
    rng = random.Random(seed)
    out: list[Query] = []
    for identifier in dict.fromkeys(found):
        out.append(Query("identifiers", identifier, identifier))
        out.append(Query("identifiers", rng.choice(SENTENCE_FORMS).format(identifier), identifier))
    return out


def section_queries(chunks: Iterable[Chunk], limit: int, seed: int = 7) -> list[Query]:
    """One query per distinct heading below a document's title (the first entry of a heading path, or the file
    name where a document has none: not a section) with at least three letters, normalised, each the heading's
    own text; `limit` of them drawn by `seed` when there are more."""
    headings: dict[str, str] = {}
    for chunk in chunks:
        for heading in (chunk.get("headings") or [])[1:]:
            if sum(ch.isalpha() for ch in heading) >= 3:
                headings.setdefault(normalise(heading), " ".join(heading.split()))
    keys = sorted(headings)
    if len(keys) > limit:
        keys = sorted(random.Random(seed).sample(keys, limit))
    return [Query("sections", headings[key], headings[key]) for key in keys]


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def sentences(text: str) -> list[str]:
    """The prose sentences of a chunk text: 8 to 40 words, mostly letters, not a table row."""
    out = []
    for line in text.splitlines():
        if "|" in line:
            continue
        for piece in _SENTENCE_END.split(line.strip()):
            words = piece.split()
            letters = sum(ch.isalpha() for ch in piece)
            if 8 <= len(words) <= 40 and letters >= 0.7 * len(piece.replace(" ", "")):
                out.append(" ".join(words))
    return out


def reword(sentence: str, rng: random.Random) -> str:
    """A light rewording: two neighbouring words swapped, one word replaced by a synonym (`SYNONYMS`, either
    way round) when the sentence has one, one word dropped (not the first or last); positions drawn by `rng`."""
    words = sentence.split()
    at = rng.randrange(1, len(words) - 2)
    words[at], words[at + 1] = words[at + 1], words[at]
    both = {**SYNONYMS, **{v: k for k, v in SYNONYMS.items()}}
    swappable = [i for i, w in enumerate(words) if w.lower() in both]
    if swappable:
        i = rng.choice(swappable)
        replacement = both[words[i].lower()]
        words[i] = replacement.capitalize() if words[i][:1].isupper() else replacement
    del words[rng.randrange(1, len(words) - 1)]
    return " ".join(words)


def passage_queries(chunks: Sequence[Chunk], limit: int, seed: int = 7) -> list[Query]:
    """Up to `limit` passage queries: chunks with a prose sentence drawn by `seed` (one per chunk, at most one
    chunk per document until every document had its turn), the sentence reworded."""
    rng = random.Random(seed)
    by_doc: dict[str, list[Chunk]] = {}
    for chunk in sorted(chunks, key=lambda c: str(c["chunk_id"])):
        if sentences(str(chunk.get("text") or "")):
            by_doc.setdefault(str(chunk.get("doc_id")), []).append(chunk)
    for group in by_doc.values():
        rng.shuffle(group)
    order: list[Chunk] = []
    docs = sorted(by_doc)
    rng.shuffle(docs)
    while len(order) < limit and any(by_doc[d] for d in docs):
        order += [by_doc[d].pop() for d in docs if by_doc[d]]
    out = []
    for chunk in order[:limit]:
        sentence = rng.choice(sentences(str(chunk["text"])))
        out.append(Query("passages", reword(sentence, rng), sentence))
    return out


def vector_identifiers(test_vectors: Path) -> list[str]:
    """The identifiers of markitdown's `must_include` strings (all vector lists of `_test_vectors.py`) and of its
    expected Markdown outputs (`test_files/expected_outputs/*.md`)."""
    tree = ast.parse(test_vectors.read_text(encoding="utf-8"))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "must_include" and isinstance(node.value, ast.List):
            for item in node.value.elts:
                if isinstance(item, ast.Constant) and isinstance(item.value, str):
                    found += id_like(item.value)
    for expected in sorted((test_vectors.parent / "test_files" / "expected_outputs").glob("*.md")):
        found += id_like(expected.read_text(encoding="utf-8", errors="replace"))
    return list(dict.fromkeys(found))


def asserted_identifiers(test_files: Iterable[Path]) -> list[str]:
    """The identifiers of the string constants inside the `assert` statements of test modules (pdfplumber's
    table tests state cell values that way)."""
    found: list[str] = []
    for path in test_files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assert):
                for const in ast.walk(node):
                    if isinstance(const, ast.Constant) and isinstance(const.value, str):
                        found += id_like(const.value)
    return list(dict.fromkeys(found))
