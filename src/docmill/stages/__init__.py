"""The eight stages. Each is a plain function over a bounded batch of records, its config and injected
adapters, returning a `StageResult` (records, rejects with reason codes, stats). None knows about Prefect."""
