"""Near-duplicate documents: MinHash signatures and their LSH band keys (pure computation, no storage).

A document's text becomes a set of word shingles (`shingles`), the set a MinHash signature of `num_perm`
uint32 values (datasketch, permutation scheme `affine32`, fixed seed). The signature is cut into `b` bands of
`r` rows; each band is hashed to a 64-bit key (`MinHasher.band_keys`). Documents sharing a band key with a
query are candidates, verified with the Jaccard estimate of their signatures (`estimates`: the share of equal
values). The index that keeps signatures and band keys between runs is
`docmill.state.catalog.neardup.NearDupIndex`, in the catalog.

`b` and `r` minimise the weighted integrals of the false-positive and false-negative probability of the
S-curve `1 - (1 - s**r)**b` below and above the threshold (Leskovec et al., *Mining of Massive Datasets*,
ch. 3; datasketch's `MinHashLSH`). False negatives weigh 0.9 and false positives 0.1: a banding false
positive only costs one signature comparison, a false negative loses a duplicate for good.

A text without any word has no shingles; datasketch would give it the all-max "empty" signature, which is
equal for every such text (`is_empty`). Such a document is never a near-duplicate and is never indexed.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any

import numpy as np

from docmill.config.settings import DedupConfig

if TYPE_CHECKING:
    from datasketch import MinHash

SEED = 1
SCHEME = "affine32"  # datasketch permutation scheme: uint32 hash values, bijective permutations
HASH_NAME = "sha1_32"  # datasketch.hashfunc.sha1_hash32, the hash of one shingle
SHINGLING = "casefold-w+-v1"  # bump when `shingles` changes: stored signatures become stale
FP_WEIGHT, FN_WEIGHT = 0.1, 0.9
EMPTY_VALUE = np.uint32(0xFFFFFFFF)  # every value of the signature of an empty shingle set

_WORD = re.compile(r"\w+")
_HASH_BATCH = 16_384  # shingles per update_batch call: bounds the (shingles x num_perm) matrix
_GRID = 2_001  # Simpson points per integral (odd)


def shingles(text: str, size: int) -> set[bytes]:
    r"""Word shingles of a text.

    Args:
        text: Any text; it is case-folded and cut into words (`\w+` runs), so whitespace and punctuation
            do not matter.
        size: Words per shingle.

    Returns:
        The UTF-8 encoded shingles (words joined by one space). A text shorter than `size` words gives one
        shingle of all its words; a text without words gives the empty set.
    """
    return set(_iter_shingles(text, size))


def _iter_shingles(text: str, size: int) -> Iterator[bytes]:
    """Shingles in text order (with repeats), holding only `size` words at a time."""
    window: deque[str] = deque(maxlen=size)
    emitted = False
    for match in _WORD.finditer(text.casefold()):
        window.append(match.group())
        if len(window) == size:
            emitted = True
            yield " ".join(window).encode()
    if window and not emitted:
        yield " ".join(window).encode()


def _batched(items: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _simpson_weights(n: int) -> np.ndarray:
    weights = np.ones(n)
    weights[1:-1:2], weights[2:-1:2] = 4.0, 2.0
    return weights / 3.0


@functools.lru_cache(maxsize=64)
def _optimal_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """Bands and rows (b * r <= num_perm) minimising the weighted false-positive + false-negative area."""
    low, high = np.linspace(0.0, threshold, _GRID), np.linspace(threshold, 1.0, _GRID)
    weights = _simpson_weights(_GRID)
    best, best_error = (1, 1), float("inf")
    for b in range(1, num_perm + 1):
        r = np.arange(1, num_perm // b + 1, dtype=float)[:, None]
        false_pos = (1.0 - (1.0 - low**r) ** b) @ weights * (low[1] - low[0])
        false_neg = ((1.0 - high**r) ** b) @ weights * (high[1] - high[0])
        error = FP_WEIGHT * false_pos + FN_WEIGHT * false_neg
        i = int(np.argmin(error))
        if error[i] < best_error:
            best, best_error = (b, i + 1), float(error[i])
    return best


def is_empty(signature: np.ndarray) -> bool:
    """Whether a signature is that of a text without words (never a near-duplicate of anything)."""
    return bool(np.all(signature == EMPTY_VALUE))


def estimates(signatures: np.ndarray, signature: np.ndarray) -> np.ndarray:
    """Estimated Jaccard similarity of each row of `signatures` (one signature per row) with `signature`.

    Returns:
        A float array with one share of equal values per row.
    """
    return (signatures == signature).mean(axis=1)


class MinHasher:
    """The MinHash LSH scheme of one dedup configuration: signatures, their band keys, its parameters key.

    Attributes:
        config: The dedup settings (threshold, shingle size, num_perm).
        bands: Number of LSH bands `b`.
        rows: Signature values per band `r`.
        params: The parameters key (threshold, shingle size, num_perm, b, r, seed, hashing scheme): signatures
            and band keys made under other parameters are not comparable.
    """

    def __init__(self, config: DedupConfig) -> None:
        """Choose the bands and rows for `config` (see the module's docstring)."""
        self.config = config
        self.bands, self.rows = _optimal_bands(config.threshold, config.num_perm)
        self.params: dict[str, Any] = {
            "threshold": config.threshold,
            "shingle_size": config.shingle_size,
            "num_perm": config.num_perm,
            "b": self.bands,
            "r": self.rows,
            "seed": SEED,
            "scheme": SCHEME,
            "hash": HASH_NAME,
            "shingling": SHINGLING,
        }

    @functools.cached_property
    def _template(self) -> MinHash:
        from datasketch import MinHash  # lazy: datasketch imports scipy

        return MinHash(num_perm=self.config.num_perm, seed=SEED, scheme=SCHEME)

    def signature(self, text: str) -> np.ndarray:
        """MinHash signature of the text's shingle set.

        Returns:
            A uint32 array of `num_perm` values; all `EMPTY_VALUE` when the text has no words.
        """
        from datasketch import MinHash
        from datasketch.hashfunc import sha1_hash32

        template = self._template
        minhash = MinHash(
            num_perm=template.num_perm,
            seed=SEED,
            hashfunc=sha1_hash32,
            permutations=template.permutations,
            scheme=SCHEME,
        )
        for batch in _batched(_iter_shingles(text, self.config.shingle_size), _HASH_BATCH):
            minhash.update_batch(batch)
        return np.asarray(minhash.hashvalues, dtype=np.uint32)

    def checked(self, signature: np.ndarray) -> np.ndarray:
        """The signature as a uint32 array.

        Raises:
            ValueError: when it does not hold `num_perm` values.
        """
        values = np.asarray(signature)
        if values.shape != (self.config.num_perm,):
            raise ValueError(f"signature must have shape ({self.config.num_perm},), got {values.shape}")
        return values.astype(np.uint32, copy=False)

    def band_keys(self, signature: np.ndarray) -> list[int]:
        """The 64-bit key (signed, to fit a SQLite INTEGER) of each of the signature's `bands` bands."""
        cells = signature[: self.bands * self.rows].astype("<u4").reshape(self.bands, self.rows)
        return [
            int.from_bytes(hashlib.blake2b(band.tobytes(), digest_size=8).digest(), "little", signed=True)
            for band in cells
        ]
