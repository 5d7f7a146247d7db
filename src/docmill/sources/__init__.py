"""Source connectors: list items and read their bytes."""
