"""Text helpers the stages use: quality signals, boilerplate removal, language detection, MinHash
near-duplicates and PII detection and redaction (`pii`)."""
