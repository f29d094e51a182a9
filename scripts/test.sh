#!/usr/bin/env bash
# Quickstart, command 2: set up .venv if needed, then run the test suite. Extra arguments go to
# pytest (e.g. `bash scripts/test.sh -k datasets`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bootstrap.sh
exec python -m pytest tests "$@"
