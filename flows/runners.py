"""The task runner a pipeline run hands its stage work to (`pipeline.task_runner`): threads of the flow process
or a Dask cluster through prefect-dask. See docs/operations.md ("Scale-out")."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prefect.cache_policies import NONE
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from docmill.config.settings import PipelineConfig, Settings
from docmill.state.store import StoreUnavailable

TASK = {"cache_policy": NONE, "persist_result": False}  # the options of every pipeline task
IO_RETRIES = 3


def io_failure(task: Any, task_run: Any, state: Any) -> bool:
    """Retry I/O failures (store unreachable, file system, network); never deterministic errors."""
    exc = state.result(raise_on_failure=False)
    return isinstance(exc, StoreUnavailable | OSError)


def submit(runner: TaskRunner[Any], task: Any, **parameters: Any) -> Any:
    """Submit a task to the run's task runner. In threads, lists, dicts and dataclasses (a `plan.Batch`) go in
    `quote()`: Prefect would otherwise walk every record (and every vector) of a batch looking for futures,
    which took minutes on a few thousand chunks. Dask cannot take `quote()` (its tuple shape reaches the task
    unwrapped) and ships the records by value (measured: 3,000 chunks with vectors in 4.3 s, against minutes of
    embedding)."""
    if isinstance(runner, ThreadPoolTaskRunner):
        walked = lambda v: isinstance(v, list | dict) or (dataclasses.is_dataclass(v) and not isinstance(v, type))  # noqa: E731
        parameters = {k: quote(v) if walked(v) else v for k, v in parameters.items()}
    return runner.submit(task, parameters)


def check_paths(settings: Settings) -> None:
    """Workers of a remote Dask cluster (`pipeline.dask_address`) read files by the paths the flow sends them,
    from another working directory: those paths must be absolute.

    Raises:
        ValueError: naming the relative settings.
    """
    if settings.pipeline.task_runner != "dask" or not settings.pipeline.dask_address:
        return
    paths = {
        "paths.data_dir": settings.paths.data_dir,
        "embed.model_path": settings.embed.model_path,
        "embed.models_dir": settings.embed.models_dir,
        **{f"ingest.sources[{i}]": p for i, p in enumerate(settings.ingest.sources)},
    }
    relative = [name for name, path in paths.items() if path is not None and not Path(path).is_absolute()]
    if relative:
        raise ValueError(
            f"pipeline.dask_address is set but {', '.join(relative)} are relative paths: Dask workers on other "
            "machines need absolute paths, mounted at the same place (docs/operations.md, scale-out)"
        )


def task_runner(cfg: PipelineConfig) -> TaskRunner[Any]:
    """`ThreadPoolTaskRunner(max_workers=threads)`, or a `DaskTaskRunner` on `dask_address` (an existing
    cluster) or on a local cluster of `dask_workers` processes started for the run."""
    if cfg.task_runner == "thread":
        return ThreadPoolTaskRunner(max_workers=cfg.threads)
    from prefect_dask import DaskTaskRunner

    if cfg.dask_address:
        return DaskTaskRunner(address=cfg.dask_address)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": cfg.dask_workers,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,  # no web server on a port nobody asked for
        },
    )


@contextlib.contextmanager
def started(cfg: PipelineConfig) -> Iterator[TaskRunner[Any]]:
    """The configured runner, started for the block. Local Dask workers start non-daemonic: extraction runs
    its own parser processes, which a daemonic process may not start."""
    with contextlib.ExitStack() as stack:
        if cfg.task_runner == "dask":
            import dask

            stack.enter_context(dask.config.set({"distributed.worker.daemon": False}))
        yield stack.enter_context(task_runner(cfg))
