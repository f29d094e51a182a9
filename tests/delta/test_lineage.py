"""Reverse lineage: every commit the project writes names the MLflow run and entry point."""

import json
from pathlib import Path

import mlflow
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from mlflow_delta_plugin.config import DEFAULT_INPUT
from mlflow_delta_plugin.delta.lineage import (
    LINEAGE_ENTRY_POINT_KEY,
    LINEAGE_RUN_ID_KEY,
    TABLE_SPEC_KEY,
    WRITE_ID_KEY,
    TableSpec,
    commit_metadata,
    commit_properties,
    find_table_spec,
    find_write,
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


def _as_native_commit(table: str, version: int) -> None:
    """Rewrite ``version``'s commitInfo the way Delta Lake on Spark writes it: the project's
    metadata as a JSON object in ``userMetadata``, no custom top-level keys."""
    path = Path(table) / "_delta_log" / f"{version:020d}.json"
    lines = []
    for line in path.read_text().splitlines():
        action = json.loads(line)
        if "commitInfo" in action:
            info = action["commitInfo"]
            ours = {k: info.pop(k) for k in list(info) if k.startswith(("mlflow", "mlflow_delta"))}
            assert ours, "the commit carries no project metadata to move"
            info["userMetadata"] = json.dumps(ours, sort_keys=True)
            info["engineInfo"] = "Apache-Spark/3.5.0 Delta-Lake/3.2.0"
        lines.append(json.dumps(action))
    path.write_text("\n".join(lines) + "\n")


def test_lineage_readers_accept_native_delta_user_metadata(tmp_path):
    table = str(tmp_path / "t")
    data = pa.table({"a": [1, 2], "y": [0, 1]})
    spec = TableSpec(label="y", features=("a",))
    write_deltalake(table, data, commit_properties=commit_properties("run-0", "prepare", spec))
    write_deltalake(table, data, mode="append",
                    commit_properties=commit_properties("run-1", "prepare", spec, "write-1"))
    _as_native_commit(table, 1)
    info = json.loads((Path(table) / "_delta_log" / f"{1:020d}.json").read_text()
                      .splitlines()[0])["commitInfo"]
    assert TABLE_SPEC_KEY not in info and WRITE_ID_KEY not in info  # only inside userMetadata

    assert find_write(table, "write-1") == 1
    assert find_table_spec(table, 1) == spec
    entries = {entry["version"]: commit_metadata(entry) for entry in DeltaTable(table).history()}
    assert entries[1][LINEAGE_RUN_ID_KEY] == "run-1"
    assert entries[0][LINEAGE_RUN_ID_KEY] == "run-0"     # delta-rs keys pass through


def test_commit_metadata_ignores_free_text_user_metadata():
    entry = {"userMetadata": "nightly backfill", "version": 2}
    assert commit_metadata(entry) == entry
    assert commit_metadata({"userMetadata": "[1, 2]"}) == {"userMetadata": "[1, 2]"}
    # a top-level key wins over the same key inside userMetadata
    both = {LINEAGE_RUN_ID_KEY: "top", "userMetadata": json.dumps({LINEAGE_RUN_ID_KEY: "inner"})}
    assert commit_metadata(both)[LINEAGE_RUN_ID_KEY] == "top"
