"""docmill's Prefect deployments, built from this project's own files.

Two routes, one list of deployments (`DEPLOYMENTS`):

- `python -m flows.deployments serve` (what `docmill server start` runs): `flow.serve`-style; one process
  registers the deployments and runs their flow runs as subprocesses on this machine. No work pool, nothing to
  copy: the embedded default.
- `python -m flows.deployments deploy --pool docmill` (what `docmill deploy` runs): the same deployments on a
  process work pool; every machine that runs `prefect worker start --pool docmill` with docmill installed at
  the same path picks runs up (the production and scale-out route; see docs/operations.md).

Adding a flow is one entry in `DEPLOYMENTS`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docmill.config.offline import apply_offline_defaults
from docmill.config.settings import DEFAULT_CONFIG, Settings, load_settings

apply_offline_defaults()
log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment: which flow, its name, whether it carries the nightly schedule, its concurrency."""

    flow: str  # "module:attribute" of the flow object, e.g. "flows.pipeline:pipeline"
    name: str
    description: str
    nightly: bool = False  # carries operations.nightly_cron in operations.timezone
    concurrency_limit: int | None = 1  # runs of this deployment beyond the limit wait (ENQUEUE)
    takes_config: bool = True  # the flow accepts `config_path` (top level and in `params`): set to the served config
    tags: tuple[str, ...] = field(default=("docmill",))


DEPLOYMENTS: tuple[DeploymentSpec, ...] = (
    DeploymentSpec(
        "flows.pipeline:pipeline",
        "ingestion",
        "Nightly ingestion; also the deployment for runs started from the UI (Run > Custom run). "
        "One run at a time: a second run waits until the first has finished.",
        nightly=True,
    ),
    DeploymentSpec(
        "flows.snapshot:snapshot_flow",
        "snapshot",
        "Cut a named dataset snapshot for fine-tuning (filters, splits, formats) from the current chunks.",
    ),
)


def _flow(spec: DeploymentSpec) -> Any:
    module, _, attribute = spec.flow.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _entrypoint(spec: DeploymentSpec) -> str:
    module, _, attribute = spec.flow.partition(":")
    return f"{module.replace('.', '/')}.py:{attribute}"


def deployment_options(spec: DeploymentSpec, settings: Settings, config: Path | None) -> dict[str, Any]:
    """Keyword arguments of `to_deployment`/`deploy` for one spec: schedule, concurrency, defaults, tags."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.schedules import Cron

    ops = settings.operations
    options: dict[str, Any] = {"name": spec.name, "description": spec.description, "tags": list(spec.tags)}
    if spec.nightly:
        options["schedules"] = [Cron(ops.nightly_cron, timezone=ops.timezone, active=ops.nightly_enabled)]
    if spec.concurrency_limit:
        options["concurrency_limit"] = ConcurrencyLimitConfig(
            limit=spec.concurrency_limit, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE
        )
    if spec.takes_config:  # top level too: a run whose `params` omit it (API, custom run) keeps this config
        path = str(deployment_config(config))
        options["parameters"] = {"params": {"config_path": path}, "config_path": path}
    return options


def deployment_config(config: Path | None) -> Path:
    """The config file a deployment's runs read, always explicit (resolved): `config`, else the project's
    `configs/docmill.yaml`; never "whatever the worker's working folder holds".

    Raises:
        FileNotFoundError: neither exists.
    """
    path = config or ROOT / DEFAULT_CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"a deployment needs its config file: {path} does not exist (pass --config)")
    return path.resolve()


def build(settings: Settings, config: Path | None, specs: tuple[DeploymentSpec, ...] = DEPLOYMENTS) -> list[Any]:
    """Runner deployments for `serve` (one per spec)."""
    return [_flow(spec).to_deployment(**deployment_options(spec, settings, config)) for spec in specs]


def serve(config: Path | None, ready_file: Path | None = None) -> None:
    """Register the deployments, then run their scheduled and UI-started runs until stopped (SIGTERM)."""
    from prefect import serve as prefect_serve

    settings = load_settings(config)
    deployments = build(settings, config)
    for deployment in deployments:  # registered before we say ready; serve() applies them again (idempotent)
        deployment.apply()
    log.info("deployments registered: %s", ", ".join(d.name for d in deployments))
    if ready_file is not None:
        ready_file.write_text("\n".join(d.name for d in deployments))
    prefect_serve(*deployments, print_starting_message=False)


def deploy(config: Path | None, pool: str | None = None) -> list[str]:
    """Create the work pool (process type) if needed and the deployments on it; returns the deployment ids.

    Workers (`prefect worker start --pool <pool>`) run the flows from this project folder, which must exist at
    the same path on every worker machine (the Docker image puts it at /app).
    """
    from prefect import Flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    settings = load_settings(config)
    pool = pool or settings.operations.work_pool
    with get_client(sync_client=True) as client, contextlib.suppress(ObjectAlreadyExists):  # made earlier
        client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
    ids = []
    for spec in DEPLOYMENTS:
        flow = Flow.from_source(source=str(ROOT), entrypoint=_entrypoint(spec))
        options = deployment_options(spec, settings, config)
        ids.append(str(flow.deploy(work_pool_name=pool, build=False, push=False, print_next_steps=False, **options)))
    return ids


def main() -> None:
    """`python -m flows.deployments serve|deploy [--config FILE] [--pool NAME]`."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["serve", "deploy"])
    parser.add_argument("--config", type=Path)
    parser.add_argument("--pool")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "serve":
        ready = os.environ.get("DOCMILL_SERVE_READY_FILE")
        serve(args.config, Path(ready) if ready else None)
    else:
        for deployment_id in deploy(args.config, args.pool):
            print(deployment_id)


if __name__ == "__main__":
    main()
