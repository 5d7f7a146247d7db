"""Run machinery under the flows: the run's runtime (lock, adapters, bookkeeping), the work done ahead of a
batch's turn (`stagework`, `preparing`), container expansion, the dry run, run statistics and metrics,
lineage, and the Prefect server's processes. Uses the stages and the state; never imports Prefect."""
