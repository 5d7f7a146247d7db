"""Stage work away from the flow (docmill.run.stagework, flows.runners): adapters per process and settings, the
daemonic-worker guard, and the runner a config selects."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

from docmill.config.settings import EmbedConfig, ExtractConfig, PathsConfig, PipelineConfig, Settings
from docmill.run import plan, stagework


def _daemonic_parser_pool(queue: mp.Queue) -> None:  # type: ignore[type-arg]
    try:
        stagework.parser_pool(Settings())
        queue.put("started")
    except RuntimeError as exc:
        queue.put(str(exc))


def test_adapters_are_built_once_per_process_and_settings(tmp_path: Path) -> None:
    settings = Settings(paths=PathsConfig(data_dir=tmp_path / "data"))
    assert stagework.embedder(settings) is stagework.embedder(settings.model_copy(deep=True)), "a model load per run"
    other = settings.model_copy(update={"embed": EmbedConfig(batch_size=8)})
    assert stagework.embedder(other) is not stagework.embedder(settings)
    assert stagework.tokenizer(settings) is stagework.tokenizer(other), "one tokenizer per model folder"
    assert stagework.max_tokens(settings) == 254  # all-MiniLM-L6-v2 reads 256 tokens, [CLS] and [SEP] included

    pool = stagework.parser_pool(settings)
    assert stagework.parser_pool(settings) is pool
    stagework.release_workers(settings)  # what RunContext.close does: the next run starts fresh workers
    assert stagework.parser_pool(settings) is not pool
    stagework.release_workers(settings)


def test_a_daemonic_worker_says_how_to_start_dask_workers() -> None:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=_daemonic_parser_pool, args=(queue,), daemon=True)
    process.start()
    message = queue.get(timeout=120)
    process.join(30)
    assert "DASK_DISTRIBUTED__WORKER__DAEMON=False" in message


def test_the_config_selects_the_task_runner() -> None:
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    from flows.runners import task_runner

    threads = task_runner(PipelineConfig(threads=3))
    assert isinstance(threads, ThreadPoolTaskRunner) and threads._max_workers == 3
    remote = task_runner(PipelineConfig(task_runner="dask", dask_address="tcp://scheduler:8786"))
    assert isinstance(remote, DaskTaskRunner) and remote.address == "tcp://scheduler:8786"
    local = task_runner(PipelineConfig(task_runner="dask", dask_workers=3))
    assert isinstance(local, DaskTaskRunner) and local.address is None
    assert local.cluster_kwargs["n_workers"] == 3 and local.cluster_kwargs["processes"] is True


def test_a_remote_cluster_refuses_relative_paths() -> None:
    import pytest

    from flows.runners import check_paths

    remote = PipelineConfig(task_runner="dask", dask_address="tcp://scheduler:8786")
    with pytest.raises(ValueError, match=r"paths.data_dir, ingest.sources\[0\] are relative"):
        check_paths(Settings(pipeline=remote))
    check_paths(Settings(pipeline=PipelineConfig(task_runner="dask")))  # a local cluster shares the directory
    check_paths(Settings(pipeline=remote, paths=PathsConfig(data_dir=Path("/srv/docmill/data")),
                         ingest={"sources": [Path("/mnt/share")]}))  # fmt: skip


def test_stage_work_redacts_only_with_the_flows_pii_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from docmill.text.pii import key_fingerprint

    monkeypatch.delenv("DOCMILL_PII_KEY", raising=False)
    flow = Settings(paths={"data_dir": tmp_path / "flow"}, clean={"pii": {"mode": "hash"}})
    fingerprint = key_fingerprint(flow)  # the flow process creates the key file
    assert fingerprint and (tmp_path / "flow" / "secrets" / "pii.key").exists()
    redactor = stagework.redactor(flow, fingerprint)
    assert redactor.apply("write to a@example.com")[0].startswith("write to <EMAIL:")
    assert stagework.redactor(flow, fingerprint) is redactor
    with pytest.raises(RuntimeError, match="differs from the flow's"):
        stagework.redactor(flow, "0" * 16)  # e.g. a worker that got another key from its environment

    elsewhere = Settings(paths={"data_dir": tmp_path / "worker"}, clean={"pii": {"mode": "hash"}})
    with pytest.raises(ValueError, match="does not exist on this machine"):
        stagework.redactor(elsewhere, fingerprint)  # a worker without the shared data folder
    assert not (tmp_path / "worker" / "secrets").exists(), "stage work never makes up a key of its own"
    monkeypatch.setenv("DOCMILL_PII_KEY", "rotated")
    with pytest.raises(RuntimeError, match="differs"):
        stagework.redactor(flow, fingerprint)  # a rotated key is never served from the cache
    assert stagework.redactor(flow, key_fingerprint(flow)) is not redactor


def test_cleaning_and_chunking_are_bounded_per_document_like_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A document whose cleaning and chunking outlast `extract.timeout_s` or outgrow `extract.max_memory_mb` is
    quarantined at the clean stage (its worker killed); the other documents of the batch go on. The time limit
    is shown with a preparation that hangs on the big document (`DOCMILL_STEP_HANG`: how long the real work takes
    depends on the machine), the memory limit with the real work on ~10 MB of prose."""
    from docmill.records import SourceFile, sha256_hex
    from docmill.samples import paragraphs

    inbox = tmp_path / "in"
    inbox.mkdir()
    small = "Budget memo\n\n" + " ".join(paragraphs(5, 3, 4))
    files = {"small.txt": small, "big.txt": "\n\n".join(paragraphs(6, 30_000, 5))}  # ~10 MB of prose
    sources = []
    for name, text in files.items():
        (inbox / name).write_text(text)
        doc_id = sha256_hex((inbox / name).read_bytes())
        sources.append(SourceFile((inbox / name).as_uri(), str(inbox / name), len(text), 0.0, doc_id, ".txt"))
    # 500 MB: a preparing worker starts well under it (it imports neither pandera nor the embedder), the ~10 MB
    # document needs more
    for extract, reason in ((ExtractConfig(timeout_s=10), "timeout"), (ExtractConfig(max_memory_mb=500), "too_large")):
        if reason == "timeout":
            monkeypatch.setenv("DOCMILL_STEP_HANG", "prepare:big.txt")  # workers inherit it when they start
        else:
            monkeypatch.delenv("DOCMILL_STEP_HANG")
        settings = Settings(paths=PathsConfig(data_dir=tmp_path / "data"), extract=extract)
        stagework.load_preparation(settings)  # workers ready: the time limit counts documents, not imports
        ahead = plan.run_ahead(settings, plan.Batch(0, sources))
        assert len(ahead.extracted.records) == 2, ahead.extracted.rejects  # parsing stays under both limits
        assert [(r.stage, r.reason, r.source_uri) for r in ahead.prepared.rejects] == [
            ("clean", reason, sources[1].source_uri)
        ]
        assert [d.source_uri for d in ahead.prepared.records] == [sources[0].source_uri]
        assert {c.doc_id for c in ahead.chunked.records} == {sources[0].doc_id}
        stagework.release_workers(settings)


def test_the_model_loads_ahead_and_a_failure_is_left_for_its_first_use(tmp_path: Path) -> None:
    """The flow loads the model on a thread while the first batches parse (on a data folder's first run, the
    ONNX export): the first turn finds it loaded. A model that cannot load fails the turn, not the thread."""
    settings = Settings(paths=PathsConfig(data_dir=tmp_path / "data"), embed=EmbedConfig(backend="onnx"))
    stagework.load_embedder(settings)
    assert stagework.embedder(settings).loaded, "loaded, not only constructed"
    assert list((tmp_path / "data" / "models").rglob("*.onnx")), "the export is done ahead too"
    (tmp_path / "empty").mkdir()
    broken = Settings(paths=PathsConfig(data_dir=tmp_path / "data"), embed=EmbedConfig(model_path=tmp_path / "empty"))
    stagework.load_embedder(broken)  # nothing raised here
    with pytest.raises(FileNotFoundError, match="no sentence-transformers model"):
        stagework.embedder(broken).dimension  # noqa: B018
