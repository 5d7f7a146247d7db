"""Run machinery under the flows: the run's context (id, lock, adapters), ingestion, the bookkeeping of each
document's outcome, the pipeline declared as data (`plan`) and the stage work it runs in any process
(`stagework`, `preparing`), container expansion, the dry run, run statistics, summary and metrics, lineage, and
the Prefect server's processes. Uses the stages and the state; never imports Prefect."""
