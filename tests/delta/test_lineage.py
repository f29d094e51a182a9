"""Reverse lineage: every commit the project writes names the MLflow run and entry point."""

import mlflow
from deltalake import DeltaTable

from mlflow_delta_plugin.config import DEFAULT_INPUT
from mlflow_delta_plugin.delta.lineage import (
    LINEAGE_ENTRY_POINT_KEY,
    LINEAGE_RUN_ID_KEY,
    TableSpec,
    find_table_spec,
)
from mlflow_delta_plugin.steps.prepare import prepare


def test_prepare_commits_carry_run_id_entry_point_and_spec(mlflow_env, tmp_path):
    table = str(tmp_path / "features")
    run_ids = []
    for mode in ("overwrite", "append"):
        with mlflow.start_run() as run:
            prepare(input=DEFAULT_INPUT, table=table, label="malignant", mode=mode)
            run_ids.append(run.info.run_id)
    history = {entry["version"]: entry for entry in DeltaTable(table).history()}
    assert [history[v][LINEAGE_RUN_ID_KEY] for v in (0, 1)] == run_ids
    assert {history[v][LINEAGE_ENTRY_POINT_KEY] for v in (0, 1)} == {"prepare"}
    # The run can be found from the commit, and the run points back at the version.
    run = mlflow.get_run(history[1][LINEAGE_RUN_ID_KEY])
    assert run.data.tags["delta.version"] == "1"
    spec = find_table_spec(table, 0)
    assert spec.label == "malignant" and "mean_radius" in spec.features


def test_table_spec_json_round_trip():
    spec = TableSpec(label="y", features=("a", "b"), split_column="split", key="id")
    assert TableSpec.from_json(spec.to_json()) == spec
