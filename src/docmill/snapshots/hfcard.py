"""The Hugging Face dataset card of a snapshot: `README.md` with YAML front matter, so that
`datasets.load_dataset("data/datasets/NAME")` finds the splits, the files and the column types in the folder.

The front matter holds `configs` (which files make which split), `dataset_info` (the features: every column's
type, so no reader guesses a type from the values), `license`, `language` and `pretty_name`. `datasets` reads
one file format per folder, so the `default` config is the Parquet files when the version has them (they hold
the embeddings), else the JSONL files; the card's "Loading" section gives the call for the JSONL files of a
version that has both. The card's body is the Markdown dataset card (`card.render_markdown`).

Split names: a snapshot's `eval` split (docmill's default name, kept so that seeds give the same assignment as
before) is the `validation` split of the card, as are `dev`, `val` and `valid`; its files keep their names
(`eval.parquet`, `eval.jsonl`). Without the card, `datasets` would guess `eval` to be `test`.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import yaml

from docmill.snapshots.export import jsonl_schema, parquet_schema

README = "README.md"
VALIDATION_ALIASES = ("eval", "dev", "val", "valid")
_DTYPES = {pa.string(): "string", pa.int32(): "int32", pa.int64(): "int64", pa.float32(): "float32"}


def hf_splits(names: list[str]) -> dict[str, str]:
    """Snapshot split name -> card split name (`eval` -> `validation` unless that name is taken)."""
    aliases = [n for n in names if n in VALIDATION_ALIASES]
    rename = len(aliases) == 1 and "validation" not in names
    return {n: "validation" if rename and n in VALIDATION_ALIASES else n for n in names}


def _feature(field: pa.Field) -> dict[str, Any]:
    """One column as a `datasets` YAML feature (`sequence`, with `length` when fixed: read by datasets 2.x to
    5.x)."""
    if pa.types.is_fixed_size_list(field.type):
        return {"name": field.name, "sequence": _DTYPES[field.type.value_type], "length": field.type.list_size}
    if pa.types.is_list(field.type):
        return {"name": field.name, "sequence": _DTYPES[field.type.value_type]}
    return {"name": field.name, "dtype": _DTYPES[field.type]}


def _languages(manifest: dict[str, Any]) -> list[str]:
    given = list(manifest["request"].get("languages") or [])
    return given or sorted(code for code in manifest["languages"] if code and code != "unknown")


def _formats(manifest: dict[str, Any]) -> list[tuple[str, pa.Schema]]:
    out = []
    if manifest["columns"]["parquet"]:
        out.append(("parquet", parquet_schema(manifest["embedding_dimension"])))
    if manifest["columns"]["jsonl"]:
        out.append(("jsonl", jsonl_schema()))
    return out


def front_matter(manifest: dict[str, Any]) -> dict[str, Any]:
    """The card's YAML metadata for a snapshot manifest."""
    names = list(manifest["splits"])
    card_split = hf_splits(names)
    fmt, schema = _formats(manifest)[0]
    files = [{"split": card_split[s], "path": f"{s}.{fmt}"} for s in names if f"{s}.{fmt}" in manifest["files"]]
    meta: dict[str, Any] = {
        "pretty_name": manifest["dataset"],
        "license": manifest["request"].get("license") or "other",
        "language": _languages(manifest),
        "tags": ["docmill"],
        "configs": [{"config_name": "default", "data_files": files}],
        "dataset_info": {"features": [_feature(f) for f in schema]},
    }
    return {k: v for k, v in meta.items() if v != []}


def loading(manifest: dict[str, Any]) -> str:
    """The card's "Loading" section: the `datasets` calls for this version's files."""
    card_split = hf_splits(list(manifest["splits"]))
    lines = ["## Loading", "", "```python", "from datasets import load_dataset", ""]
    for index, (fmt, _) in enumerate(_formats(manifest)):
        if index == 0:
            what = "Parquet, with embeddings" if fmt == "parquet" else "JSONL"
            splits = ", ".join(card_split.values())
            lines.append(f'ds = load_dataset("path/to/{manifest["dataset"]}")  # {what}: {splits}')
        builder = "json" if fmt == "jsonl" else fmt
        files = ", ".join(f'"{card_split[s]}": "path/to/{manifest["dataset"]}/{s}.{fmt}"' for s in card_split)
        lines.append(f'ds = load_dataset("{builder}", data_files={{{files}}})')
    return "\n".join([*lines, "```", ""]) + "\n"


def readme(manifest: dict[str, Any], body: str) -> str:
    """`README.md`: the YAML front matter, then the "Loading" section and the Markdown card."""
    head = yaml.safe_dump(front_matter(manifest), sort_keys=False, allow_unicode=True, width=120)
    title, _, rest = body.partition("\n\n")
    return f"---\n{head}---\n\n{title}\n\n{loading(manifest)}{rest}"
