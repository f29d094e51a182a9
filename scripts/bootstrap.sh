#!/usr/bin/env bash
# Create or refresh the project's virtual environment (.venv) with the package and its test
# extras. Idempotent: reinstalls only when setup.py or this script changed. Sourced by the
# other scripts; prints what it does.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON_BIN="${PYTHON:-python3}"
STAMP="$VENV/.installed-$(cat "$ROOT/setup.py" "$ROOT/scripts/bootstrap.sh" | sha256sum | cut -c1-16)"

if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap: creating $VENV with $($PYTHON_BIN --version 2>&1)"
  "$PYTHON_BIN" -m venv "$VENV"
fi
if [ ! -f "$STAMP" ]; then
  echo "bootstrap: installing mlflow-delta-plugin[dev] into $VENV (a few minutes the first time)"
  # torch==2.13.0 is the CPU build on this machine's disk; pandas<3 keeps pyspark happy.
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    -e "$ROOT[dev,spark]" "torch==2.13.0" "pandas>=2.2,<3" 2>&1 | grep -v "^WARNING: Location" || true
  "$VENV/bin/python" -c "import mlflow_delta_plugin, mlflow, deltalake, sklearn, torch" \
    || { echo "bootstrap: install failed" >&2; exit 1; }
  rm -f "$VENV"/.installed-*
  touch "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
