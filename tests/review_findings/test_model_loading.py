"""Hostile review of the model loaded ahead (issue 21, 0a2eceb + 10c5162: `stagework.load_embedder` on a daemon
thread of the flow process while the first batches parse, `Embedder._model` loaded once under a lock, `plan.Turn`
reading the model key and dimension lazily).

Tests "Found by review" assert the behaviour a reviewer expected and failed on the reviewed code: each one is a
finding (see the review report). The others pin behaviour that was checked and found right."""

from __future__ import annotations

import threading
from pathlib import Path

from docmill.embedding.encoder import Embedder


def test_an_export_left_unfinished_is_cleared_by_the_next_one(tmp_path: Path, model_folder: Path) -> None:
    """Found by review (low): the flow now exports the ONNX model on a daemon thread. A run that stops in its
    first seconds on a fresh data folder (a pipeline error in the first batch's preparation, Ctrl-C, SIGTERM)
    exits with the thread inside `ensure_export`: its `finally` never runs and the scratch folder (173 MB here,
    `data/models/.<target>.<random>/`) stays, one more per such run; before 0a2eceb the export ran in the flow
    thread, whose exception unwound through the `finally`. Fixed: an export, holding the target's lock, removes
    the scratch folders of the target's unfinished exports first."""
    from docmill.embedding.onnx import cache_folder, ensure_export

    embedder = Embedder(model_folder, "all-MiniLM-L6-v2", backend="onnx", precision="int8", cache_dir=tmp_path)
    target = cache_folder(tmp_path, embedder.model_name, embedder.revision, "int8")
    tmp_path.mkdir(exist_ok=True)
    stale = tmp_path / f".{target.name}.k1ll3d"  # what a process killed in the export leaves
    stale.mkdir()
    (stale / "traced.onnx").write_bytes(b"\0" * 1024)
    model = ensure_export(model_folder, target, "int8")
    assert model.is_file()
    assert not stale.exists(), "the unfinished export's scratch folder is removed"
    assert (tmp_path / f".{target.name}.lock").is_file(), "the lock file stays"
    leftovers = [p.name for p in tmp_path.iterdir() if p.is_dir() and p.name.startswith(".")]
    assert leftovers == [], leftovers
    # checked and right: two callers at once (the loading thread, the embed step) load the model once
    models: list[object] = []
    callers = [threading.Thread(target=lambda: models.append(embedder._model)) for _ in range(2)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    assert len(models) == 2 and models[0] is models[1]
    embedder.close()
