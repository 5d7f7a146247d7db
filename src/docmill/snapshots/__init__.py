"""Dataset snapshots for fine-tuning: filtered, split, versioned exports of the catalog's chunks (DVC + git),
their dataset cards, and the registry of trainings that used them. See docs/datasets.md."""
