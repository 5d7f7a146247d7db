"""The snapshot flow: cut a dataset version for fine-tuning from the catalog's current chunks.

One typed parameter (`SnapshotParams`, a pydantic model) so the Prefect UI renders a form; a deployment
only needs `snapshot_flow` and, optionally, default parameters, e.g.
`snapshot_flow.serve(name="nightly-finance", cron="0 3 * * *", parameters={"params": {"name": "finance",
"filters": {"departments": ["finance"]}}})`. The flow calls the same function as `docmill snapshot create`.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from pydantic import Field

from docmill.config.offline import apply_offline_defaults
from docmill.config.settings import load_settings
from docmill.run.params import allowed_config
from docmill.snapshots import service
from docmill.snapshots.spec import SnapshotRequest

apply_offline_defaults()


class SnapshotParams(SnapshotRequest):
    """A snapshot request plus the config file to read the catalog and data repository from."""

    config_path: str | None = Field(None, description="docmill YAML config; empty: configs/docmill.yaml.")


@flow(name="docmill-snapshot", log_prints=False)
def snapshot_flow(params: SnapshotParams, config_path: str | None = None) -> dict[str, Any]:
    """Cut the snapshot `params.name`; returns its tag, version id, counts and whether it is new.

    Args:
        params: the snapshot's name, filters, splits, formats.
        config_path: the deployment's config file; takes precedence over `params.config_path`.
    """
    logger = get_run_logger()
    settings = load_settings(allowed_config(config_path or params.config_path))
    request = service.make_request(
        settings,
        params.name,
        params.filters,
        format=params.format,
        splits=params.splits,
        seed=params.seed,
        push=params.push,
        # the card's licence and languages: the config's unless the run sets them
        **{key: getattr(params, key) for key in ("license", "languages") if key in params.model_fields_set},
    )
    result = service.create(settings, request).as_dict()
    logger.info("snapshot %s: %s (%s)", result["name"], result["tag"], "new" if result["new"] else "unchanged")
    splits = "\n".join(
        f"- {k}: {v.get('chunks', 0)} chunks, {v.get('documents', 0)} documents" for k, v in result["splits"].items()
    )
    create_markdown_artifact(
        f"# snapshot {result['tag']}\n\nversion `{result['version']}`, {result['rows']} chunks of "
        f"{result['documents']} documents ({'new' if result['new'] else 'unchanged'})\n\n{splits}\n",
        key="docmill-snapshot",
        description="docmill dataset snapshot",
    )
    return result
