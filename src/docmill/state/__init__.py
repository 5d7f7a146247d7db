"""Everything docmill keeps between runs, and the only place that reads or writes it: the catalog (SQLite),
the vector store (Qdrant), the data repository (DVC + git), the audit trail and its keys, the run lock, and
the quarantine's queries."""
