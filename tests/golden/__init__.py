"""Golden files: what each stage produces for a few fixtures, stored as JSON so that a change in element text,
chunk boundaries or enrichment shows up as a reviewable diff (docs/architecture.md, "Golden files").

`fixtures` names the documents, `capture` runs them through the pipeline's stage functions and turns the
results into stable records, `regen` rewrites the files, and `tests/test_golden.py` compares.
"""
