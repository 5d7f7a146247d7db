"""Text helpers the stages use: quality signals, boilerplate removal, language detection, MinHash
near-duplicates, PII detection and redaction (`pii`) and the control characters no cleaned text keeps."""
