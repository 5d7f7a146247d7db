"""ONNX Runtime backend: the local sentence-transformers model exported once, optionally int8-quantised.

The export runs from the local weights (`torch.onnx.export` of the model's transformer with eager attention,
then ONNX Runtime's BERT fusions, checked against the unfused graph; no optimum, no download) into
`<cache>/<model>-<revision>-<precision>-ort<version>-v<EXPORT_VERSION>/`, built in a temporary
folder and renamed into place under a file lock, so concurrent or killed runs never leave a broken cache.
Pooling and normalisation follow the model's own sentence-transformers modules (`modules.json`, the
pooling module's `config.json`); the tokenizer and `max_seq_length` truncation are the model's.

Size: one job, the ONNX variant of the model (export, fusion check, quantisation, cached session); the
encoder that uses it is `encoder.py`.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from docmill.embedding.model_folder import max_sequence_length

log = logging.getLogger(__name__)

EXPORT_VERSION = 3  # bump when the export recipe changes: old caches are ignored, vectors get a new model key
OPSET = 17
POOLING_MODES = {
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
}


@dataclass(frozen=True)
class ModelPipeline:
    """What sentence-transformers does after the transformer: pooling, optional L2 normalisation."""

    max_seq_length: int
    pooling: str
    normalize: bool


def read_pipeline(folder: Path) -> ModelPipeline:
    """The model's sentence-transformers pipeline from its own files.

    Raises:
        ValueError: for pipelines this backend cannot reproduce (modules besides Transformer, Pooling, Normalize;
            a pooling mode other than mean, cls or max; several pooling modes).
    """
    modules = json.loads((folder / "modules.json").read_text())
    kinds = {m["type"].rsplit(".", 1)[-1]: m for m in modules}
    unsupported = set(kinds) - {"Transformer", "Pooling", "Normalize"}
    if unsupported or "Pooling" not in kinds or kinds.get("Transformer", {}).get("path", "") != "":
        raise ValueError(f"embed.backend onnx supports Transformer+Pooling(+Normalize) models, not {sorted(kinds)}")
    config = json.loads((folder / kinds["Pooling"]["path"] / "config.json").read_text())
    if isinstance(config.get("pooling_mode"), str):  # the format newer sentence-transformers versions save
        config = {f"pooling_mode_{config['pooling_mode']}": True}
    aliases = {"pooling_mode_mean": "pooling_mode_mean_tokens", "pooling_mode_max": "pooling_mode_max_tokens",
               "pooling_mode_cls": "pooling_mode_cls_token"}  # fmt: skip
    config = {aliases.get(k, k): v for k, v in config.items()}
    modes = [POOLING_MODES[k] for k in POOLING_MODES if config.get(k)]
    others = [k for k, v in config.items() if k.startswith("pooling_mode") and v and k not in POOLING_MODES]
    if len(modes) != 1 or others:
        raise ValueError(f"embed.backend onnx needs exactly one of mean/cls/max pooling, got {config}")
    return ModelPipeline(max_sequence_length(folder), modes[0], "Normalize" in kinds)


def cache_folder(cache_root: Path, model_name: str, revision: str, precision: str) -> Path:
    """Where the export for these settings lives (keyed by model revision, precision, onnxruntime version)."""
    import onnxruntime

    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model_name)
    return cache_root / f"{safe}-{revision}-{precision}-ort{onnxruntime.__version__}-v{EXPORT_VERSION}"


def ensure_export(folder: Path, target: Path, precision: str) -> Path:
    """The ONNX file for `folder` at `precision` ("fp32" or "int8"), exported into `target` when missing.

    Returns:
        Path of `model.onnx` inside `target`.
    """
    model = target / "model.onnx"
    if model.exists():
        return model
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f".{target.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be exporting the same model: wait for it
        if model.exists():
            return model
        for stale in (p for p in target.parent.glob(f".{target.name}.*") if p.is_dir()):  # unfinished exports'
            shutil.rmtree(stale, ignore_errors=True)  # scratch (a process exited while it exported)
        started = time.perf_counter()
        scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            _export(folder, scratch / "traced.onnx")
            fused = _fuse(folder, scratch / "traced.onnx", scratch / "fp32.onnx")
            if precision == "int8":
                _quantize(scratch / "fp32.onnx", scratch / "model.onnx")
                (scratch / "fp32.onnx").unlink()
            else:
                (scratch / "fp32.onnx").rename(scratch / "model.onnx")
            info = {"source": str(folder), "precision": precision, "opset": OPSET, "export_version": EXPORT_VERSION,
                    "fused": fused}  # fmt: skip
            (scratch / "export.json").write_text(json.dumps(info, indent=2))
            shutil.rmtree(target, ignore_errors=True)  # a partial folder from a pre-rename crash cannot exist,
            os.rename(scratch, target)  # but a hand-made one might
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        log.info(
            "exported %s to ONNX (%s) in %.1f s: %s", folder.name, precision, time.perf_counter() - started, target
        )
    return model


def _export(folder: Path, out: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    # eager attention traces to the classic pattern ONNX Runtime fuses into one Attention op; the default (sdpa)
    # traces to masking ops (Where, IsNaN) that took 12 % of int8 inference time here
    model = AutoModel.from_pretrained(str(folder), local_files_only=True, attn_implementation="eager").eval()
    # two lengths: a padded batch, so the traced graph applies the attention mask (an all-ones mask may be
    # optimised away by transformers during tracing)
    sample = tokenizer(["an example sentence, a little longer", "another one"], padding=True, return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
    axes = {n: {0: "batch", 1: "sequence"} for n in names}

    class Hidden(torch.nn.Module):  # keyword arguments: the positional order of forward() varies by version
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, *inputs: Any) -> Any:
            return self.inner(**dict(zip(names, inputs, strict=True))).last_hidden_state

    with torch.no_grad():
        torch.onnx.export(
            Hidden(),
            tuple(sample[n] for n in names),
            str(out),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={**axes, "last_hidden_state": {0: "batch", 1: "sequence"}},
            opset_version=OPSET,
            dynamo=False,
        )


FUSION_TOLERANCE = 1e-3  # max abs difference of token states between the fused and the traced graph


def _fuse(folder: Path, source: Path, out: Path) -> dict[str, int]:
    """Write `source` with ONNX Runtime's transformer fusions (embedding + LayerNorm, one Attention op per layer,
    bias + GELU, skip + LayerNorm) to `out`, or `source` unchanged when nothing fused or the fused graph's
    token states differ from the traced graph's on a padded sample batch.

    Returns:
        The fused operator counts (empty when the traced graph is kept).
    """
    counts: dict[str, int] = {}
    gap: float | None = None
    failed = False
    try:  # any failure (an architecture the fusion scripts do not know, an op the CPU provider rejects): unfused
        from onnxruntime.transformers import optimizer
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
        heads, hidden = getattr(config, "num_attention_heads", 0), getattr(config, "hidden_size", 0)
        model = optimizer.optimize_model(
            str(source), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=0
        )
        counts = {k: int(v) for k, v in model.get_fused_operator_statistics().items() if v}
        if counts.get("Attention"):
            model.save_model_to_file(str(out))
            gap = _max_difference(folder, source, out)
    except Exception as exc:
        log.warning("ONNX fusion failed for %s, using the unfused graph: %s", folder.name, exc)
        failed = True
    if gap is not None and gap <= FUSION_TOLERANCE:  # NaN compares false: kept unfused
        source.unlink()
        return counts
    if gap is not None:
        log.warning("fused ONNX graph of %s differs by %.2g from the traced one: kept unfused", folder.name, gap)
    elif not failed:
        log.warning("no attention fusion for %s (%s): the unfused graph is slower", folder.name, counts)
    source.replace(out)
    return {}


def _max_difference(folder: Path, first: Path, second: Path) -> float:
    """Largest absolute difference of the two graphs' token states on a padded batch of sample texts, one of
    them at the model's full sequence length."""
    import onnxruntime as ort
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    long = " ".join(f"Clause {i} of the retention policy applies to archived records." for i in range(60))
    texts = ["A padded batch checks that the attention mask is applied.", "Short one.", long]
    batch = tokenizer(texts, padding=True, truncation=True, max_length=max_sequence_length(folder), return_tensors="np")
    states = []
    for path in (first, second):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = {i.name for i in session.get_inputs()}
        feeds = {k: v.astype(np.int64) for k, v in batch.items() if k in names}
        states.append(session.run(None, feeds)[0])
    mask = batch["attention_mask"][..., None] > 0  # padded positions carry no meaning
    return float(np.abs(np.where(mask, states[0] - states[1], 0)).max())


def _quantize(source: Path, out: Path) -> None:
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # per-channel weight scales; reduce_range (7-bit weights) avoids the u8 x s8 saturation of AVX2 kernels
    # without VNNI: both more accurate and, measured here, faster. The fused Attention ops become QAttention
    # (int8 Q/K/V projection); shape inference cannot type the outputs of fused ops, hence the default type.
    quantize_dynamic(
        str(source),
        str(out),
        weight_type=QuantType.QInt8,
        per_channel=True,
        reduce_range=True,
        extra_options={"DefaultTensorType": TensorProto.FLOAT},
    )


def pool(hidden: np.ndarray, mask: np.ndarray, pipeline: ModelPipeline) -> np.ndarray:
    """Pool token states into one vector per text (and L2-normalise when the model does), as float32."""
    hidden = hidden.astype(np.float32, copy=False)
    if pipeline.pooling == "cls":
        vectors = hidden[:, 0]
    elif pipeline.pooling == "max":
        vectors = np.where(mask[..., None] > 0, hidden, -1e9).max(axis=1)
    else:
        weights = mask[..., None].astype(np.float32)
        vectors = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
    if pipeline.normalize:
        vectors = vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
    return vectors.astype(np.float32)


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask, not the machine's total)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class OnnxEncoder:
    """Length-sorted work items through one ONNX Runtime session, `threads` of them at a time with one CPU
    thread each; `timings` splits tokenise / pre-process / infer / post-process (CPU seconds summed over the
    threads).

    One intra-op thread per item, items in parallel: measured here 1.2-1.4x the throughput of one item at a time
    on two intra-op threads, because a single text's operators are too small to split well across cores.
    """

    def __init__(self, folder: Path, model_file: Path, threads: int = 0, per_text: bool = False) -> None:
        import onnxruntime as ort
        from transformers import AutoTokenizer

        self.pipeline = read_pipeline(folder)
        self._tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        self._inputs = [i.name for i in self._session.get_inputs()]
        self.dimension = int(self._session.get_outputs()[0].shape[-1])
        self.threads = threads or cpu_count()
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="docmill-onnx")  # run() drops the GIL
        self.timings: defaultdict[str, float] = defaultdict(float)  # seconds per step
        # int8 dynamic quantisation scales activations per tensor, i.e. over the whole batch: a text's vector
        # would depend on its batch mates (cosine ~0.99 between two batchings). One text per call keeps every
        # vector a function of its text alone (and needs no padding).
        self.per_text = per_text

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Unit vectors (float32) for `texts`, in their order."""
        started = time.perf_counter()
        ids = self._tok(texts, truncation=True, max_length=self.pipeline.max_seq_length, verbose=False)["input_ids"]
        order = np.argsort([len(i) for i in ids], kind="stable")
        self.timings["tokenize_s"] += time.perf_counter() - started
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        # fp32: batches no larger than what keeps every thread busy (a call of 64 texts is not one core's job)
        batch_size = 1 if self.per_text else max(1, min(batch_size, -(-len(texts) // self.threads)))
        groups = [order[start : start + batch_size] for start in range(0, len(texts), batch_size)]
        results = self._pool.map(self._run, [[ids[r] for r in rows] for rows in groups])
        for rows, (vectors, spent) in zip(groups, results, strict=True):
            out[rows] = vectors
            for key, seconds in spent.items():
                self.timings[key] += seconds
        return out

    def close(self) -> None:
        """Stop the calling threads (idle ones; an encode in progress finishes)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, ids: list[list[int]]) -> tuple[np.ndarray, dict[str, float]]:
        t0 = time.perf_counter()
        width = max(len(i) for i in ids)
        input_ids = np.full((len(ids), width), self._tok.pad_token_id or 0, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for row, seq in enumerate(ids):
            input_ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        feeds: dict[str, Any] = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        t1 = time.perf_counter()
        hidden = self._session.run(["last_hidden_state"], feeds)[0]
        t2 = time.perf_counter()
        vectors = pool(hidden, mask, self.pipeline)
        t3 = time.perf_counter()
        return vectors, {"pre_s": t1 - t0, "infer_s": t2 - t1, "post_s": t3 - t2}
