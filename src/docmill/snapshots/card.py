"""The dataset card of a snapshot version: Markdown and a self-contained HTML page with embedded charts.

Everything on the card comes from the version's manifest (plus the trainings that used the version), so a
card can be rendered again at any time and its numbers always equal the manifest's. In the HTML, every
number carries `data-metric="<manifest path>"` so a reader (or a test) can check it against the manifest;
every chart is a PNG `<img data-chart=NAME>` embedded as a data URI (no file or network access needed).
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

CHARTS = ("token_length", "file_types", "languages", "splits", "quality", "pii", "quarantine")


def charts_of(manifest: dict[str, Any]) -> list[str]:
    """The charts a manifest's card has (PII, quality and quarantine only when there is something to show)."""
    present = {"quality": bool(manifest["quality"]), "pii": bool(manifest["pii"])}
    present["quarantine"] = bool(manifest["quarantine"] or manifest["dedup"])
    return [c for c in CHARTS if present.get(c, True)]


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _bars(plt: Any, title: str, counts: dict[str, int]) -> str:
    height = 0.3 * len(counts) + 0.9
    figure, axis = plt.subplots(figsize=(6, height))
    labels = [k if len(k) <= 32 else k[:31] + "…" for k in counts]
    axis.barh(labels[::-1], list(counts.values())[::-1], color="#4a7ab5")
    axis.set_title(title, fontsize=10)
    axis.tick_params(labelsize=8)
    figure.subplots_adjust(left=0.38, right=0.97, top=1 - 0.35 / height, bottom=0.45 / height)  # no tight_layout: slow
    try:
        return _png(figure)
    finally:
        plt.close(figure)


def _histograms(plt: Any, title: str, series: dict[str, dict[str, Any]]) -> str:
    figure, axes = plt.subplots(1, len(series), figsize=(max(6, 3 * len(series)), 2.6), squeeze=False)
    for axis, (name, facts) in zip(axes[0], series.items(), strict=True):
        edges, counts = facts["histogram"]["edges"], facts["histogram"]["counts"]
        if counts:
            axis.stairs(counts, edges, fill=True, color="#4a7ab5")
        axis.set_title(name, fontsize=8)
        axis.tick_params(labelsize=7)
    figure.suptitle(title, fontsize=10)
    figure.subplots_adjust(left=0.08, right=0.98, top=0.8, bottom=0.15, wspace=0.35)
    try:
        return _png(figure)
    finally:
        plt.close(figure)


def render_charts(manifest: dict[str, Any]) -> dict[str, str]:
    """Chart name -> base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "docmill"
    splits = {name: facts.get("chunks", 0) for name, facts in manifest["splits"].items()}
    makers = {
        "token_length": lambda: _histograms(plt, "tokens per chunk", {"token_length": manifest["token_length"]}),
        "file_types": lambda: _bars(plt, "documents by type", manifest["file_types"]),
        "languages": lambda: _bars(plt, "documents by language", manifest["languages"]),
        "splits": lambda: _bars(plt, "chunks by split", splits),
        "quality": lambda: _histograms(plt, "document quality signals", manifest["quality"]),
        "pii": lambda: _bars(plt, "PII values redacted, by type", manifest["pii"]),
        "quarantine": lambda: _bars(plt, "dedup and quarantine", {**manifest["dedup"], **manifest["quarantine"]}),
    }
    return {name: makers[name]() for name in charts_of(manifest)}


Row = tuple[str, Any, str | None]  # label, value, manifest path of the value (None: derived text)


def _sections(manifest: dict[str, Any], trainings: list[dict[str, Any]] | None) -> list[tuple[str, list[Row]]]:
    """(title, rows) of the card; a section with nothing to list says "none"."""
    m = manifest
    overview: list[Row] = [
        ("chunks", m["rows"], "rows"),
        ("documents", m["documents"], "documents"),
        ("tokens", m["tokens"], "tokens"),
        ("embedding dimension", m["embedding_dimension"], "embedding_dimension"),
        ("config hash (pipeline)", m["config_hash"], "config_hash"),
        ("request hash", m["request_hash"], "request_hash"),
        ("docmill", m["code_version"], "code_version"),
        ("formats", m["request"]["format"], "request.format"),
        ("seed", m["request"]["seed"], "request.seed"),
    ]
    splits: list[Row] = [
        (f"{name}: chunks / documents", f"{f.get('chunks', 0)} / {f.get('documents', 0)}", None)
        for name, f in m["splits"].items()
    ]
    splits += [(f"{n} chunks", f.get("chunks", 0), f"splits.{n}.chunks") for n, f in m["splits"].items()]
    tokens: list[Row] = [(k, m["token_length"][k], f"token_length.{k}") for k in ("min", "p50", "p90", "max", "mean")]
    quality: list[Row] = [
        (f"{s} (p10 / p50 / p90)", f"{f['p10']} / {f['p50']} / {f['p90']}", None) for s, f in m["quality"].items()
    ]
    lineage: list[Row] = [
        (f"run {r}", f"{f['chunks']} chunks, config {f['config_hash']}", None) for r, f in m["lineage"]["runs"].items()
    ]
    lineage += [(f"model {k}", v, None) for k, v in m["lineage"]["models"].items()]
    lineage += [(f"parser {k}", v, None) for k, v in m["lineage"]["parsers"].items()]
    used: list[Row] = [
        (t["model"], f"run {t.get('run_id') or '-'}, recorded {t['recorded_at']}", None) for t in trainings or []
    ]

    def counted(key: str) -> list[Row]:
        return [(k, v, f"{key}.{k}") for k, v in m.get(key, {}).items()]  # a manifest cut before the key: none

    sections = [
        ("Overview", overview),
        ("Splits", splits),
        ("Sources (documents per source folder)", counted("sources")),
        ("Document types", counted("file_types")),
        ("Languages", counted("languages")),
        ("Departments", counted("departments")),
        ("Token length per chunk", tokens),
        ("Quality signals (documents)", quality),
        ("PII values by type (counts, never values)", counted("pii")),
        ("Duplicates removed", counted("dedup")),
        ("Semantic near-duplicate chunks (flagged with semantic_duplicate_of)", counted("semantic_duplicates")),
        ("Quarantine by reason", counted("quarantine")),
        ("Chunks left out by the filters", counted("excluded_chunks")),
        ("Lineage", lineage),
        ("Trainings that used this version", used or [("none recorded", "", None)]),
    ]
    return [(title, rows or [("none", "", None)]) for title, rows in sections]


def render_markdown(manifest: dict[str, Any], trainings: list[dict[str, Any]] | None, title: str) -> str:
    """The card as Markdown (charts are in the HTML card)."""
    lines = [f"# Dataset card: {title}", ""]
    for heading, rows in _sections(manifest, trainings):
        lines += [f"## {heading}", "", "| | |", "|---|---|"]
        lines += [f"| {label} | {value} |" for label, value, _ in rows]
        lines.append("")
    lines += ["## Files", "", "| file | bytes | sha256 |", "|---|---|---|"]
    lines += [f"| {n} | {f['bytes']} | `{f['sha256']}` |" for n, f in manifest["files"].items()]
    return "\n".join(lines) + "\n"


_STYLE = (
    "body{font-family:sans-serif;max-width:60rem;margin:2rem auto;color:#222}table{border-collapse:collapse;"
    "margin-bottom:1rem}td{border-bottom:1px solid #ddd;padding:2px 10px}td:first-child{color:#555}"
    "img{display:block;max-width:100%;margin:0.5rem 0 1.5rem}"
)


def render_html(manifest: dict[str, Any], trainings: list[dict[str, Any]] | None, title: str) -> str:
    """The card as one self-contained HTML page."""
    charts = render_charts(manifest)
    esc = html.escape
    body = [f"<h1>Dataset card: {esc(title)}</h1>"]
    for name, data in charts.items():
        body.append(f'<img data-chart="{name}" alt="{name} chart" src="data:image/png;base64,{data}">')
    for heading, rows in _sections(manifest, trainings):
        body.append(f"<h2>{esc(heading)}</h2><table>")
        for label, value, path in rows:
            metric = f' data-metric="{esc(path)}"' if path else ""
            body.append(f"<tr><td>{esc(str(label))}</td><td{metric}>{esc(str(value))}</td></tr>")
        body.append("</table>")
    body.append("<h2>Files</h2><table>")
    for name, facts in manifest["files"].items():
        body.append(f"<tr><td>{esc(name)}</td><td>{facts['bytes']} bytes, sha256 {facts['sha256']}</td></tr>")
    body.append("</table>")
    head = f'<meta charset="utf-8"><title>{esc(title)}</title><style>{_STYLE}</style>'
    return f"<!DOCTYPE html>\n<html><head>{head}</head><body>\n" + "\n".join(body) + "\n</body></html>\n"


def write_cards(
    folder: Path,
    manifest: dict[str, Any],
    trainings: list[dict[str, Any]] | None,
    title: str | None = None,
    stem: str = "card",
) -> list[Path]:
    """Write `<stem>.md` and `<stem>.html` into `folder`; returns both paths."""
    title = title or manifest["dataset"]
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{stem}.md", folder / f"{stem}.html"]
    paths[0].write_text(render_markdown(manifest, trainings, title), encoding="utf-8")
    paths[1].write_text(render_html(manifest, trainings, title), encoding="utf-8")
    return paths
