"""The task runner a pipeline run hands its stage work to (`pipeline.task_runner`): threads of the flow process
or a Dask cluster through prefect-dask. See docs/operations.md ("Scale-out")."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from docmill.settings import PipelineConfig


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
