"""Architecture contracts: stage and adapter code never imports the orchestrator; start-up stays light."""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_nothing_under_src_imports_prefect_or_flows() -> None:
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imports(p) & {"prefect", "flows"})
        for p in (ROOT / "src").rglob("*.py")
        if _imports(p) & {"prefect", "flows"}
    }
    assert offenders == {}


def test_the_scan_would_catch_an_offender(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from prefect import flow\n    return flow\n")
    assert "prefect" in _imports(bad)


def test_import_linter_contract_holds() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


def test_cli_start_up_imports_no_heavy_library() -> None:
    code = (
        "import sys, docmill.cli.main; heavy = {'torch', 'prefect', 'unstructured', 'sentence_transformers', "
        "'pymupdf', 'pandas', 'qdrant_client', 'dvc', 'transformers'}; print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ)
    assert out.stdout.strip() == "[]"
    help_text = subprocess.run(
        [str(Path(sys.executable).with_name("docmill")), "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("run", "demo", "status", "quarantine", "server"):
        assert command in help_text


SQL = re.compile(r"\b(SELECT|UPDATE|DELETE FROM|INSERT)\b")


def _python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def test_no_sql_outside_the_state_package() -> None:
    """The catalog owns its SQL: nothing but `docmill.state` writes a query (the issue's grep, kept true)."""
    state = ROOT / "src" / "docmill" / "state"
    offenders = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in _python_files("src", "flows")
        if state not in p.parents
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if SQL.search(line)
    ]
    assert offenders == []


def test_flows_reach_no_catalog_and_no_private_state() -> None:
    """Flows hold a run context and call `docmill.run` (ingestion, bookkeeping, plan): never the catalog itself."""
    offenders = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in _python_files("flows")
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if re.search(r"\.catalog\b|\._lock\b|\.transaction\(", line)
    ]
    assert offenders == []


def test_a_module_over_300_lines_says_why_at_its_top() -> None:
    """No module over ~300 lines without its reason (a `Size:` paragraph in the module docstring)."""
    offenders = []
    for p in _python_files("src", "flows"):
        text = p.read_text()
        if text.count("\n") > 300:
            doc = ast.get_docstring(ast.parse(text)) or ""
            if not re.search(r"^Size:", doc, re.MULTILINE):
                offenders.append(f"{p.relative_to(ROOT)} ({text.count(chr(10))} lines)")
    assert offenders == []
