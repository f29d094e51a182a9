#!/usr/bin/env bash
# Quickstart, command 1: set up .venv if needed, then run the whole lifecycle (prepare -> train
# -> evaluate -> promote) on the bundled sample data with embedded defaults:
# Delta tables under ./data, MLflow tracking in ./mlflow.db. Extra arguments go to `mlflow run`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bootstrap.sh
exec mlflow run . -e main --env-manager local "$@"
