"""The sparse lexical vector of a chunk: BM25 term weights over a tokenizer that keeps identifiers whole.

Dense vectors miss what enterprise users search for most: identifiers (`SKU-0019`, `INV-2024-0042`, an order
number, a UUID). The tokenizer lowercases, keeps every run of word characters joined by `-_./@:+#` whole (an
identifier, a dotted code, an e-mail address) and also emits its parts, drops stop words and stems ordinary
words (Snowball, for the configured languages; words with digits are never stemmed). A document's weights
are BM25's term-frequency saturation with a fixed average length, so a chunk's vector depends on its own text
only; IDF is left to Qdrant (`Modifier.IDF` on the collection's sparse vector). A query term weighs 1.
Term ids are a 32-bit hash of the term: stable across runs, processes and versions of this module.

`VERSION` (with the stemmers used, `SparseEncoder.version`) joins the run's settings key and the lineage.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from docmill.embedding.stopwords import STOP_WORDS
from docmill.records import Chunk, SparseVector

VERSION = "bm25-v1"

# a word, or words joined by connectors: `SKU-0019`, `2.3.59`, `jane.doe@example.com`, `a1b2-...-c3d4`
_TOKEN = re.compile(r"\w+(?:[-_./@:+#]\w+)*")
_PART = re.compile(r"[^\W_]+")  # the parts of a joined token (the underscore joins, like the connectors)

# ISO 639-1 -> Snowball algorithm name
_SNOWBALL = {
    "ar": "arabic", "ca": "catalan", "da": "danish", "de": "german", "el": "greek", "en": "english",
    "es": "spanish", "eu": "basque", "fi": "finnish", "fr": "french", "ga": "irish", "hi": "hindi",
    "hu": "hungarian", "hy": "armenian", "id": "indonesian", "it": "italian", "lt": "lithuanian",
    "ne": "nepali", "nl": "dutch", "no": "norwegian", "pt": "portuguese", "ro": "romanian", "ru": "russian",
    "sr": "serbian", "sv": "swedish", "ta": "tamil", "tr": "turkish", "yi": "yiddish",
}  # fmt: skip


def identifiers(text: str) -> list[str]:
    """The identifier-like tokens of a text: tokens with a digit (`4373090816`, `SKU-0019`, `2.3.59`, a UUID)."""
    return [token for token in _TOKEN.findall(text) if any(ch.isdigit() for ch in token)]


def text_of(chunk: Chunk) -> str:
    """The text a chunk's sparse vector is computed from (the one place that decides it): the text that is
    embedded (`Chunk.embedding_text`: with `chunk.contextualize`, the title, heading path and table header
    before the chunk text), so a section's words find its chunks in sparse search too."""
    return chunk.embedding_text


def payload_text(payload: Mapping[str, Any]) -> str:
    """`text_of` for a point's payload (a store migrated or restored without its chunks). A `context` that is no
    string is no context docmill stored (a connector's metadata field of that name): the text alone."""
    context = payload.get("context")
    item = Chunk(
        chunk_id=str(payload.get("chunk_id", "")),
        doc_id=str(payload.get("doc_id", "")),
        index=int(payload.get("chunk_index") or 0),
        text=str(payload.get("text") or ""),
        token_count=int(payload.get("token_count") or 0),
        char_start=int(payload.get("char_start") or 0),
        char_end=int(payload.get("char_end") or 0),
        page_start=payload.get("page_start"),
        page_end=payload.get("page_end"),
        metadata=dict(payload),
        context=context if isinstance(context, str) else None,  # `Chunk.stored_metadata`: embedded before the text
    )
    return text_of(item)


@functools.lru_cache(maxsize=1 << 18)
def term_id(term: str) -> int:
    """The stable 32-bit id of a term (blake2b, 4 bytes)."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest(), "big")


def _stemmers(languages: Iterable[str]) -> dict[str, Any]:
    try:
        import snowballstemmer
    except ImportError:  # not installed: no stemming, and the version says so
        return {}
    return {lang: snowballstemmer.stemmer(_SNOWBALL[lang]) for lang in languages if lang in _SNOWBALL}


class SparseEncoder:
    """BM25 document weights and unit query weights over the identifier-keeping tokenizer.

    Args:
        languages: ISO 639-1 codes for stop words and stemming (the first is a document's default language).
        k1: term-frequency saturation.
        b: length normalisation.
        average_length: the average document length in tokens that `b` normalises against.
    """

    def __init__(
        self, languages: list[str] | None = None, k1: float = 1.2, b: float = 0.75, average_length: float = 120.0
    ) -> None:
        self.languages = [lang.lower() for lang in (languages or ["en"])]
        self.k1, self.b, self.average_length = k1, b, average_length
        self._stemmers = _stemmers(self.languages)
        self._stop = frozenset().union(*(STOP_WORDS.get(lang, frozenset()) for lang in self.languages))
        self._word_cache: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}
        stemmed = "-".join(lang for lang in self.languages if lang in self._stemmers)
        self.version = f"{VERSION}+snowball-{stemmed}" if stemmed else f"{VERSION}+nostem"

    def _words(self, token: str, languages: tuple[str, ...]) -> tuple[str, ...]:
        """The terms of one plain word: nothing for a stop word or a lone letter, else its stems (a word with
        digits is not stemmed). Memoised: a corpus has far fewer distinct words than words."""
        key = (token, languages)
        found = self._word_cache.get(key)
        if found is not None:
            return found
        if token in self._stop or (len(token) == 1 and not token.isdigit()):
            found = ()
        elif any(ch.isdigit() for ch in token):
            found = (token,)
        else:
            stems = (self._stemmers[lang].stemWord(token) if lang in self._stemmers else token for lang in languages)
            found = tuple(dict.fromkeys(stems))
        if len(self._word_cache) > 500_000:
            self._word_cache.clear()
        self._word_cache[key] = found
        return found

    def tokens(self, text: str, language: str | None = None, every_language: bool = False) -> list[str]:
        """The terms of `text`, in order: joined tokens whole and then their parts, plain words stemmed in
        `language` (or the first configured language), or in every configured language (`every_language`, a
        query: its language is unknown)."""
        if every_language:
            languages = tuple(self.languages)
        else:
            languages = (language if language in self.languages else self.languages[0],)  # type: ignore[assignment]
        out: list[str] = []
        for match in _TOKEN.finditer(text.lower()):
            token = match.group()
            parts = _PART.findall(token)
            if not parts:
                continue
            if len(parts) == 1 and parts[0] == token:
                out += self._words(token, languages)
                continue
            out.append(token)  # the identifier whole
            for part in parts:
                out += self._words(part, languages)
        return out

    def document(self, text: str, language: str | None = None) -> SparseVector:
        """BM25 term weights of a stored text: tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / average))."""
        terms = self.tokens(text, language)
        norm = self.k1 * (1 - self.b + self.b * len(terms) / self.average_length)
        weights: dict[int, float] = {}
        for term, tf in Counter(terms).items():
            index = term_id(term)
            weights[index] = weights.get(index, 0.0) + tf * (self.k1 + 1) / (tf + norm)
        return _vector(weights)

    def query(self, text: str) -> SparseVector:
        """Weight 1 for every distinct term of a query (stemmed in every configured language)."""
        return _vector({term_id(t): 1.0 for t in self.tokens(text, every_language=True)})

    def chunk(self, item: Chunk) -> SparseVector:
        """The document vector of a chunk's `text_of`, in its detected language when that is configured."""
        language = item.metadata.get("chunk_language") or item.metadata.get("language")
        return self.document(text_of(item), language)


def _vector(weights: dict[int, float]) -> SparseVector:
    indices = sorted(weights)
    return SparseVector(indices, [weights[i] for i in indices])


@functools.lru_cache(maxsize=8)
def encoder(languages: tuple[str, ...], k1: float, b: float, average_length: float) -> SparseEncoder:
    """A shared encoder for these settings (its stem cache is kept)."""
    return SparseEncoder(list(languages), k1, b, average_length)


def from_settings(settings: Any) -> SparseEncoder:
    """The encoder `settings.embed.sparse` describes (languages: its own, else `clean.quality.allowed_languages`,
    else English)."""
    cfg = settings.embed.sparse
    languages = cfg.languages or settings.clean.quality.allowed_languages or ["en"]
    return encoder(tuple(languages), cfg.k1, cfg.b, cfg.average_length)
