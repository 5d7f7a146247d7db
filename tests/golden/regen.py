"""Rewrite the golden files from what the stages produce now.

Run from the repository root: `PYTHONPATH=src:. python -m tests.golden.regen [NAME ...]` (all fixtures when no
name is given; a name is a fixture's file name, e.g. `handbook-1p.docx`). Golden files of fixtures that no
longer exist are removed. Review the result with `git diff tests/golden` before committing it.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from tests.golden import capture, files
from tests.golden.fixtures import FIXTURES, missing

log = logging.getLogger("tests.golden.regen")


def regenerate(names: list[str], folder: Path = files.GOLDEN_DIR) -> list[str]:
    """Write the golden files of the fixtures `names` (all when empty) into `folder`; the names whose file changed.

    Raises:
        ValueError: for a name that is no fixture.
    """
    known = {f.name: f for f in FIXTURES}
    unknown = sorted(set(names) - known.keys())
    if unknown:
        raise ValueError(f"no such fixture: {', '.join(unknown)} (fixtures: {', '.join(known)})")
    chosen = [known[n] for n in names] if names else FIXTURES
    with tempfile.TemporaryDirectory(prefix="docmill-golden-") as work:
        records = capture.capture(chosen, Path(work))
    changed = []
    for name, record in records.items():
        target = files.path_of(name, folder)
        text = files.dumps(record)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            changed.append(name)
    if not names:
        for stale in sorted(files.stored_names(folder) - known.keys()):
            files.path_of(stale, folder).unlink()
            changed.append(stale)
    return changed


def main() -> int:
    """Command-line entry: regenerate, log what changed."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="fixture file names (default: all)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if missing():
        log.error("shared corpus files missing: %s", ", ".join(missing()))
        return 1
    changed = regenerate(args.names)
    log.info("changed: %s", ", ".join(changed) if changed else "nothing")
    return 0


if __name__ == "__main__":  # the stage workers are spawned processes: they import this module, never run it
    sys.exit(main())
