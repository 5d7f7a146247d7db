"""Shared fixtures: isolated tool state, the shared corpus, generated corpora, the real model."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NETGUARD = Path(__file__).resolve().parent / "netguard"

# The files of the shared corpus the stage and end-to-end tests use: mixed types, broken ones included.
SUBSET = [
    "pdf/fake-memo.pdf",
    "pdf/layout-parser-paper-fast.pdf",
    "pdf/password.pdf",
    "pdf/loremipsum-flat.pdf",
    "fake.docx",
    "handbook-1p.docx",
    "duplicate-paragraphs.docx",
    "fake-power-point.pptx",
    "fake-power-point-malformed.pptx",
    "fake-html.html",
    "fake-html-lang-de.html",
    "eml/fake-email-attachment.eml",
    "eml/empty.eml",
    "fake-email.msg",
    "README.md",
    "umlauts-non-utf8.md",
    "stanley-cups.csv",
    "fake-text-utf-16-be.txt",
    "empty.txt",
    "fake-text-all-whitespace.txt",
    "password_protected.xlsx",
    "stanley-cups.xlsx",
    "img/example.jpg",
    "file_we_dont_want_imported",
    "simple.json",
    "fake.doc",
]


def _isolate_tools(base: Path) -> None:
    from docmill.config.offline import apply_offline_defaults

    apply_offline_defaults()
    for var, sub in (
        ("DVC_SITE_CACHE_DIR", "dvc-site"),
        ("DVC_GLOBAL_CONFIG_DIR", "dvc-global"),
        ("DVC_SYSTEM_CONFIG_DIR", "dvc-system"),
        ("PREFECT_HOME", "prefect-home"),
    ):
        os.environ[var] = str(base / sub)
    os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"


@pytest.fixture(scope="session", autouse=True)
def isolated_tools(tmp_path_factory: pytest.TempPathFactory) -> None:
    """DVC and Prefect state of the test session stays in a temporary folder; network guard in children."""
    _isolate_tools(tmp_path_factory.mktemp("tools"))
    os.environ["PYTHONPATH"] = os.pathsep.join([str(NETGUARD), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    sys.path.insert(0, str(NETGUARD))
    import sitecustomize  # noqa: F401  # the guard for this process too


@pytest.fixture(scope="session")
def shared_corpus() -> Path:
    """The shared corpus of real third-party documents (../shared beside the clone, or DOCMILL_SHARED_CORPUS)."""
    path = Path(os.environ.get("DOCMILL_SHARED_CORPUS", ROOT.parent / "shared/corpus/unstructured-example-docs"))
    if not path.is_dir():
        message = f"shared corpus not found at {path} (set DOCMILL_SHARED_CORPUS)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def corpus_subset(shared_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of SUBSET (never write next to the shared originals)."""
    target = tmp_path_factory.mktemp("subset")
    for relative in SUBSET:
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(shared_corpus / relative, target / relative)
    return target


@pytest.fixture(scope="session")
def sample_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """docmill's generated sample corpus."""
    from docmill.samples import write_sample_corpus

    target = tmp_path_factory.mktemp("samples")
    write_sample_corpus(target)
    return target


@pytest.fixture(scope="session")
def model_folder() -> Path:
    """The bundled embedding model."""
    from docmill.embedding.encoder import default_model_path

    return default_model_path()


@pytest.fixture(scope="session")
def tokenizer(model_folder: Path):  # type: ignore[no-untyped-def]
    """The real model tokenizer."""
    from docmill.embedding.encoder import ModelTokenizer

    return ModelTokenizer(model_folder)


@pytest.fixture(scope="session")
def embedder(model_folder: Path):  # type: ignore[no-untyped-def]
    """The real embedding model on CPU."""
    from docmill.embedding.encoder import Embedder

    return Embedder(model_folder, "sentence-transformers/all-MiniLM-L6-v2", "cpu", 32)


@pytest.fixture(scope="session")
def parser_pool():  # type: ignore[no-untyped-def]
    """Real parser worker processes."""
    from docmill.parsers.pool import ParserPool

    with ParserPool(2, 120, 6144) as pool:
        yield pool


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory, model_folder: Path) -> Path:
    """A model cache with the bundled model exported to ONNX (fp32 and int8) once per session."""
    import time

    from docmill.embedding.encoder import model_revision
    from docmill.embedding.onnx import cache_folder, ensure_export

    root = tmp_path_factory.mktemp("models")
    for precision in ("fp32", "int8"):
        started = time.perf_counter()
        target = cache_folder(root, "sentence-transformers/all-MiniLM-L6-v2", model_revision(model_folder), precision)
        ensure_export(model_folder, target, precision)
        logging.getLogger(__name__).info("ONNX export %s: %.1f s", precision, time.perf_counter() - started)
    return root
