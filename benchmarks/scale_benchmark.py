"""Scale and memory: the real flow over synthetic corpora of 1k / 5k / 20k documents, one subprocess per size.

Per size it prints documents, chunks, flow seconds, ms/doc, the flow process's peak RSS (and the parser
workers'), the ratio to the smallest size, catalog and Prefect overhead per document, and a rerun without
changes as a share of the full run. Stated simplifications, so that 20k documents fit in minutes on 2 cores:
the documents are short (`synth_corpus` profile "short": one or two paragraphs each) and embedding uses a
*one-layer* cut of the bundled all-MiniLM-L6-v2 (same tokenizer, same 384-d output, same pooling) through
the ONNX int8 backend. Memory growth does not depend on how many layers the model has.

Usage: python benchmarks/scale_benchmark.py [--sizes 1000 5000 20000]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
TASKS = ("ingest_task", "prepare_task", "version_task")  # flows.pipeline's; with its STEP_TASKS and publish_task


def tiny_model(target: Path) -> Path:
    """The bundled model with its first transformer layer only, saved as a sentence-transformers folder."""
    from sentence_transformers import SentenceTransformer

    from docmill.embedding.encoder import default_model_path

    model = SentenceTransformer(str(default_model_path()), device="cpu", local_files_only=True)
    bert = model[0].auto_model
    bert.encoder.layer = bert.encoder.layer[:1]
    bert.config.num_hidden_layers = 1
    model.save(str(target))
    return target


def _timer(spent: Counter[str], key: str, fn: Any) -> Any:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[key] += time.perf_counter() - started

    return wrapper


def run_once(config: str) -> None:
    """(Subprocess) run the flow twice (full, then unchanged) with catalog and Prefect time accounting."""
    import flows.pipeline as fp
    from docmill.state.catalog import Catalog

    spent: Counter[str] = Counter()
    for name in dir(Catalog):
        if not name.startswith("_") and callable(getattr(Catalog, name)) and name != "transaction":
            setattr(Catalog, name, _timer(spent, "catalog", getattr(Catalog, name)))
    import prefect.task_engine as engine

    # Prefect's overhead = time in its task engine (every task run, called or submitted) minus the bodies' time
    engine.run_task_sync = _timer(spent, "task_call", engine.run_task_sync)  # type: ignore[assignment]
    from flows import publishing

    for task in [*(getattr(fp, name) for name in TASKS), *fp.STEP_TASKS.values(), publishing.publish_task]:
        task.fn = _timer(spent, "task_body", task.fn)
    full = fp.pipeline(config_path=config)
    rss_full = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    measured = dict(spent)
    rerun = fp.pipeline(config_path=config)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = {"full": full, "rerun": rerun, "spent": measured, "rss_kb": rss_full, "workers_rss_kb": workers}
    print(json.dumps(out, default=str))


def measure(size: int, base: Path, model: Path, api: str) -> dict[str, Any]:
    """Generate a corpus of `size` documents and run the flow on it in a fresh process."""
    from synth_corpus import generate

    work = base / f"n{size}"
    counts = generate(work / "inbox", size, seed=7, profile="short")
    config = {
        "paths": {"data_dir": str(work / "data")},
        "ingest": {"sources": [str(work / "inbox")]},
        "version": {"remote_url": str(work / "remote")},
        "embed": {
            "model_path": str(model),
            "model_name": "bench/minilm-1-layer",
            "backend": "onnx",
            "precision": "int8",
            "models_dir": str(base / "models"),
        },
    }
    (work / "c.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PREFECT_API_URL": api, "PREFECT_LOGGING_LEVEL": "WARNING"}
    command = [sys.executable, __file__, "--run", str(work / "c.yaml")]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return {"size": size, "generated": counts, **json.loads(done.stdout.strip().splitlines()[-1])}


def report(rows: list[dict[str, Any]]) -> None:
    """Print the table."""
    head = f"{'docs':>6}{'embedded':>9}{'chunks':>8}{'flow s':>8}{'ms/doc':>8}{'RSS MB':>8}{'x 1st':>7}"
    print(head + f"{'workers MB':>11}{'catalog ms/doc':>15}{'Prefect ms/doc':>15}{'rerun s':>9}{'rerun %':>8}")
    first = rows[0]["rss_kb"]
    for row in rows:
        full, n, spent = row["full"], row["size"], row["spent"]
        prefect = spent.get("task_call", 0.0) - spent.get("task_body", 0.0)
        print(
            f"{n:>6}{full['documents'].get('embedded', 0):>9}{full['chunks_embedded']:>8}{full['seconds']:>8.1f}"
            f"{1000 * full['seconds'] / n:>8.1f}{row['rss_kb'] / 1024:>8.0f}{row['rss_kb'] / first:>7.2f}"
            f"{row['workers_rss_kb'] / 1024:>11.0f}{1000 * spent.get('catalog', 0.0) / n:>15.2f}"
            f"{1000 * prefect / n:>15.2f}{row['rerun']['seconds']:>9.1f}"
            f"{row['rerun']['seconds'] / full['seconds']:>8.1%}"
        )


def main() -> None:
    """Run every size against one temporary Prefect server."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--run")
    args = parser.parse_args()
    if args.run:
        run_once(args.run)
        return
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    from docmill.config.offline import apply_offline_defaults

    apply_offline_defaults()
    with tempfile.TemporaryDirectory(prefix="docmill-scale-") as tmp, prefect_test_harness(server_startup_timeout=180):
        base = Path(tmp)
        model = tiny_model(base / "minilm-1-layer")
        from docmill.embedding.encoder import Embedder  # export once here: no size's peak RSS includes the export

        Embedder(model, "bench/minilm-1-layer", "cpu", 64, "onnx", "int8", base / "models").encode(["warm-up"])
        rows = []
        for size in args.sizes:
            rows.append(measure(size, base, model, str(PREFECT_API_URL.value())))
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "rerun"}, default=str), flush=True)
            report(rows)  # after every size: a long run that is stopped early still leaves its figures
        report(rows)


if __name__ == "__main__":
    main()
