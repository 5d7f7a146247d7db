"""The parameters of one pipeline run: the same model for the CLI, the Prefect UI form and schedules.

`docmill run` builds a `PipelineParams` from its options and hands it to the flow as JSON; a run started from
the Prefect UI gets the same model from the form Prefect renders out of these type hints. So both routes
resolve settings through `PipelineParams.settings()` and behave alike.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from docmill.config.settings import DEFAULT_CONFIG, Settings, load_settings
from docmill.sources import registry

PROFILE_DIR = DEFAULT_CONFIG.parent
CONFIG_ROOTS_ENV = "DOCMILL_CONFIG_ROOTS"  # folders (os.pathsep-separated) a run's config file must lie in


def allowed_config(path: Path | str | None) -> Path | str | None:
    """`path`, when the worker allows runs to read it: with `DOCMILL_CONFIG_ROOTS` set (docker-compose sets the
    read-only `/app/configs`), a run started through the API cannot point docmill at a config file it wrote
    itself (e.g. into a source folder) to choose its own sources and data folder.

    Raises:
        ValueError: the config file (or the default one) lies outside every configured root.
    """
    roots = [Path(r).resolve() for r in os.environ.get(CONFIG_ROOTS_ENV, "").split(os.pathsep) if r]
    file = Path(path or DEFAULT_CONFIG).resolve()
    if roots and not any(file.is_relative_to(root) for root in roots):
        raise ValueError(f"config file {file} is outside {CONFIG_ROOTS_ENV} ({', '.join(map(str, roots))})")
    return path


class PipelineParams(BaseModel):
    """What a data engineer may choose per run; everything else comes from the config file."""

    model_config = ConfigDict(extra="forbid", title="docmill pipeline run")

    sources: list[str] = Field(
        default_factory=list,
        description="What to ingest: names of `ingest.connectors` entries and/or source folders (absolute paths on "
        "the worker). Empty: every configured folder and connector.",
    )
    config_path: str | None = Field(
        None,
        description="Config file path, or a profile name resolved to configs/NAME.yaml. Empty: configs/docmill.yaml.",
    )
    batch_size: int | None = Field(None, ge=1, description="Documents per batch. Empty: `pipeline.batch_size`.")
    dry_run: bool = Field(
        False,
        description="List and hash the sources and report what a run would process (new, changed, deleted, "
        "pending, quarantined to reprocess) without parsing and without writing the catalog, Qdrant or a "
        "dataset version.",
    )
    reprocess_quarantined: bool = Field(
        False,
        description="Queue every quarantined document whose source still exists for this run "
        "(same as `docmill quarantine replay --all`).",
    )
    snapshot_name: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="After the run, also cut this snapshot (as `docmill snapshot create NAME` with the `snapshot` "
        "section's defaults) from the chunks the run left current.",
    )

    def config_file(self) -> Path | None:
        """The config file this run reads: a path, a profile name (configs/<name>.yaml) or None (default)."""
        if not self.config_path:
            return None
        given = Path(self.config_path)
        if given.suffix or len(given.parts) > 1:
            return given
        return PROFILE_DIR / f"{self.config_path}.yaml"

    def settings(self) -> Settings:
        """Settings of this run: the config file with this run's sources and batch size applied.

        Raises:
            FileNotFoundError: when the config file (or profile) does not exist.
            ValueError: a run source outside the configured folders and `ingest.allowed_roots`, the data
                folder inside a source folder, or a config file outside `DOCMILL_CONFIG_ROOTS`.
        """
        settings = load_settings(allowed_config(self.config_file()))
        overrides: dict[str, Any] = {}
        if self.sources:
            overrides["ingest"] = registry.select(settings.ingest, self.sources)
        if self.batch_size:
            overrides["pipeline"] = settings.pipeline.model_copy(update={"batch_size": self.batch_size})
        settings = settings.model_copy(update=overrides)
        registry.refuse_data_dir_inside(settings.ingest, settings.paths.data_dir)
        return settings
