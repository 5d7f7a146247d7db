"""Fuzz corpus: truncated, bit-flipped and spliced copies of every file of the shared corpora, through the real
flow; every file must end accounted for (embedded, duplicate, container, or quarantined with a reason) and the
run must complete.

The corpus is deterministic: each file's variants come from a generator seeded by its relative path, so two
runs write the same bytes. Eight variants per file: cut to 10 %, to 50 % and at a seeded point; one bit flipped in
the first 64 bytes (the magic), a few bits in the header and the body, 64 bits anywhere; spliced with the next
file of the corpus and with a file of another type. `tests/flows/test_item_isolation.py` runs a representative
slice through the flow (the smallest file of each format kind, one variant each, in turn); this script runs all
of it (355 files give 2,840):

    PYTHONPATH=src:. .venv/bin/python benchmarks/fuzz_corpus.py OUT_DIR [--corpus ../shared/corpus] [--every 1]
        [--timeout 30]

It prints the run's seconds, documents per second, the counts by status and reason, and the files left
unaccounted (the script exits 1 if there is any).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpus"
Mutation = Callable[[bytes, random.Random, bytes], bytes]


def _cut(share: float | None) -> Mutation:
    def cut(data: bytes, rng: random.Random, _other: bytes) -> bytes:
        end = int(len(data) * share) if share is not None else rng.randrange(max(len(data), 1))
        return data[:end]

    return cut


def _flip(bits: int, window: int | None) -> Mutation:
    def flip(data: bytes, rng: random.Random, _other: bytes) -> bytes:
        out = bytearray(data)
        span = min(len(out), window or len(out))
        for _ in range(bits if span else 0):
            out[rng.randrange(span)] ^= 1 << rng.randrange(8)
        return bytes(out)

    return flip


def _splice(data: bytes, rng: random.Random, other: bytes) -> bytes:
    return data[: rng.randrange(len(data) + 1)] + other[rng.randrange(len(other) + 1) :]


VARIANTS: dict[str, tuple[Mutation, str]] = {  # name -> (mutation, which other file it takes: next / other type)
    "cut10": (_cut(0.1), "next"),
    "cut50": (_cut(0.5), "next"),
    "cutrnd": (_cut(None), "next"),
    "flipmagic": (_flip(1, 64), "next"),
    "fliphead": (_flip(4, 4096), "next"),
    "flip64": (_flip(64, None), "next"),
    "splicenext": (_splice, "next"),
    "spliceother": (_splice, "other"),
}


def originals(corpus: Path) -> list[Path]:
    """Every file of the corpus (README files included), in sorted order."""
    return sorted(p for p in corpus.rglob("*") if p.is_file())


def one_per_kind(files: list[Path]) -> list[Path]:
    """The smallest file of each extension: every format kind once, cheaply."""
    smallest: dict[str, Path] = {}
    for path in files:
        kind = path.suffix.lower()
        if kind not in smallest or path.stat().st_size < smallest[kind].stat().st_size:
            smallest[kind] = path
    return sorted(smallest.values())


def variants(corpus: Path, every: int = 1, kinds: bool = False, rotate: bool = False) -> Iterator[tuple[str, bytes]]:
    """(relative output path, bytes) of the variants of every `every`-th file (or of `one_per_kind`),
    deterministically; `rotate`: one variant per file, the next one of `VARIANTS` for each file."""
    files = originals(corpus)
    chosen = one_per_kind(files) if kinds else files[::every]
    for number, path in enumerate(chosen):
        index = files.index(path)
        relative = path.relative_to(corpus)
        data = path.read_bytes()
        following = files[(index + 1) % len(files)]
        other = next((f for f in files[index + 1 :] + files[:index] if f.suffix != path.suffix), following)
        names = [list(VARIANTS)[number % len(VARIANTS)]] if rotate else list(VARIANTS)
        for name in names:
            mutate, which = VARIANTS[name]
            seed = int.from_bytes(hashlib.sha256(f"{relative}:{name}".encode()).digest()[:8], "big")
            donor = (following if which == "next" else other).read_bytes()
            out = relative.with_name(f"{relative.stem}.{name}{relative.suffix}")
            yield out.as_posix(), mutate(data, random.Random(seed), donor)


def write_corpus(corpus: Path, target: Path, every: int = 1, kinds: bool = False, rotate: bool = False) -> int:
    """Write the fuzz corpus under `target`; returns how many files."""
    count = 0
    for relative, data in variants(corpus, every, kinds, rotate):
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        (target / relative).write_bytes(data)
        count += 1
    return count


def accounted(data_dir: Path, inbox: Path) -> tuple[dict[str, str], list[str]]:
    """Each input file's outcome (its document's status, or its ingest reject's reason) and the files with none."""
    db = sqlite3.connect(data_dir / "catalog.sqlite")
    db.row_factory = sqlite3.Row
    status = {
        r["source_uri"]: r["status"]
        for r in db.execute("SELECT s.source_uri, d.status FROM sources s JOIN documents d USING (doc_id)")
    }
    rejected = {r["source_uri"]: r["reason"] for r in db.execute("SELECT source_uri, reason FROM quarantine")}
    outcomes, missing = {}, []
    for path in sorted(p for p in inbox.rglob("*") if p.is_file()):
        uri = path.resolve().as_uri()
        outcome = status.get(uri) or rejected.get(uri)
        if outcome in (None, "pending"):
            missing.append(str(path.relative_to(inbox)))
        else:
            outcomes[str(path.relative_to(inbox))] = outcome
    db.close()
    return outcomes, missing


def main() -> None:
    """Generate the corpus, run the real flow over it, print what became of every file."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--corpus", type=Path, default=SHARED)
    parser.add_argument("--every", type=int, default=1, help="take every n-th file of the corpus")
    parser.add_argument("--timeout", type=float, default=30.0, help="extract.timeout_s (a hostile file may hang)")
    args = parser.parse_args()
    import yaml

    inbox, data = args.out / "inbox", args.out / "data"
    files = write_corpus(args.corpus, inbox, args.every)
    config = {
        "paths": {"data_dir": str(data)},
        "ingest": {"sources": [str(inbox)]},
        "extract": {"timeout_s": args.timeout},
        "version": {"push": False},
    }
    (args.out / "docmill.yaml").write_text(yaml.safe_dump(config))
    from prefect.testing.utilities import prefect_test_harness

    from flows.pipeline import pipeline

    with prefect_test_harness(server_startup_timeout=120):  # a real, temporary Prefect server
        started = time.perf_counter()
        summary = pipeline(config_path=str(args.out / "docmill.yaml"))
        seconds = time.perf_counter() - started
    outcomes, missing = accounted(data, inbox)
    print(json.dumps({"files": files, "seconds": round(seconds, 1), "files_per_s": round(files / seconds, 2),
                      "outcomes": Counter(outcomes.values()).most_common(), "documents": summary["documents"],
                      "quarantine": summary["quarantine"],
                      "unaccounted": missing}, indent=1))  # fmt: skip
    sys.exit(1 if missing else 0)


if __name__ == "__main__":
    main()
