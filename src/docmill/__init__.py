"""docmill: turn a company's documents into versioned, AI-ready datasets, on premise."""

__version__ = "0.1.0"
