"""Architecture contracts: stage and adapter code never imports the orchestrator; start-up stays light."""

import ast
import os
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
