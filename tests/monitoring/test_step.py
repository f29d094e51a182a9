"""The ``monitor`` entry point: decisions and exit codes, split by model version, labels from a
joined table, reruns and crashes that count nothing twice, and bad input that changes nothing."""

import uuid

import mlflow
import pandas as pd
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from mlflow import MlflowClient

from mlflow_delta_plugin.monitoring import step as monitor_module
from mlflow_delta_plugin.monitoring import monitor, read_history
from mlflow_delta_plugin.steps.prepare import prepare
from mlflow_delta_plugin.steps.train import train
from tests.conftest import latest_run, load_entrypoint
from tests.monitoring.stream import Stream
from tests.spark.dv_tables import HandWrittenTable, inline_dv


class _NoLineage(mlflow.pyfunc.PythonModel):
    """A model logged without any training dataset input."""

    def predict(self, context, model_input: pd.DataFrame, params=None):
        return (model_input["worst_radius"] > 16.8).astype(int).to_numpy()


@pytest.fixture(scope="module")
def world(tracking_uri, tmp_path_factory):
    """Scored versions 0, 1 by model version 1 and 2 by version 2; tables for bad input."""
    folder = tmp_path_factory.mktemp("monitor")
    stream = Stream.build(folder)
    with mlflow.start_run():
        train(stream.features, model_type="linear", registered_model=stream.model_name, seed=7)
    moved = stream.data.drop(columns=["row_id"]).assign(mean_radius=lambda d: d.mean_radius * 3)
    moved.to_csv(folder / "moved.csv", index=False)
    with mlflow.start_run():  # the feature table moves on after training: the reference must not
        prepare(input=str(folder / "moved.csv"), table=stream.features, label="malignant",
                mode="append")
    stream.score(stream.rows(0))
    stream.score(stream.rows(1))
    stream.score(stream.rows(2), model_uri=f"models:/{stream.model_name}/2")
    scored = DeltaTable(stream.scored).to_pandas()
    write_deltalake(str(folder / "labels"), scored[["row_id", "malignant"]])
    write_deltalake(str(folder / "labels_no_key"),
                    scored[["row_id", "malignant"]].rename(columns={"row_id": "case"}))
    write_deltalake(str(folder / "no_model_version"),
                    scored.drop(columns=["model_version"]))
    rows = pa.Table.from_pandas(scored.drop(columns=["scored_at"]).head(5), preserve_index=False)
    with_dvs = HandWrittenTable(folder / "dv_scored", rows.schema)
    with_dvs.commit([with_dvs.add(with_dvs.write_file(rows), inline_dv([0]))])
    with mlflow.start_run():
        mlflow.pyfunc.log_model(name="model", python_model=_NoLineage(),
                                pip_requirements=["mlflow"], registered_model_name="no_lineage")
    no_lineage = Stream(folder, stream.experiment_id, "no_lineage", stream.features,
                        str(folder / "incoming_nl"), str(folder / "scored_nl"), stream.data)
    no_lineage.score(stream.rows(3))
    return {"stream": stream, "folder": folder, "no_lineage": no_lineage.scored}


@pytest.fixture
def metrics(world, mlflow_env, tmp_path) -> str:
    return str(tmp_path / f"metrics_{uuid.uuid4().hex[:6]}")


def _main(capsys, *argv):
    capsys.readouterr()
    code = load_entrypoint("monitor").main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_retrain_exits_with_the_documented_code_and_says_why(world, metrics, capsys):
    stream = world["stream"]
    code, out, err = _main(capsys, "--scored_table", stream.scored, "--metrics_table", metrics,
                           "--thresholds", '{"psi": 0.0001}', "--drift_share", "0.01")
    assert code == 3, err
    [line] = [l for l in out.splitlines() if l.startswith("retrain:")]
    assert line.startswith("retrain: yes (window 0..2, model version 2: drift: ")
    run = latest_run("monitor")
    assert run.info.status == "FINISHED"
    assert run.data.tags["monitor.retrain"] == "yes" and run.data.tags["monitor.window"] == "0..2"


def test_no_retrain_exits_zero_and_a_rerun_finds_an_empty_window(world, metrics, capsys):
    stream = world["stream"]
    code, out, err = _main(capsys, "--scored_table", stream.scored, "--metrics_table", metrics)
    assert code == 0, err
    assert "retrain: no (window 0..2, model version 2: drift: 0 of 30" in out
    before = DeltaTable(metrics).version()
    code, out, err = _main(capsys, "--scored_table", stream.scored, "--metrics_table", metrics)
    assert code == 2
    [line] = err.strip().splitlines()
    assert line.startswith("error: monitor: the window of scored table") and "is empty" in line
    assert DeltaTable(metrics).version() == before


def test_each_model_version_is_compared_with_its_own_training_data(world, metrics):
    stream = world["stream"]
    with mlflow.start_run() as run:
        result = monitor(stream.scored, metrics, label_column="malignant")
    assert result.model_version == "2" and result.rows == 3000
    rows = DeltaTable(metrics).to_pandas()
    assert set(rows["model_version"]) == {"1", "2"}
    count = rows[(rows["column"] == "*") & (rows["statistic"] == "rows")]
    assert dict(zip(count["model_version"], count["value"])) == {"1": 2000.0, "2": 1000.0}
    assert set(rows["reference_version"]) == {0}  # the trained-on version, not the latest (1)
    assert DeltaTable(stream.features).version() == 1 and result.drifted == ()
    data = mlflow.get_run(run.info.run_id).data
    assert data.metrics["rows"] == 1000 and data.metrics["model_v1/rows"] == 2000
    assert "model_v1/quality_accuracy" in data.metrics and "quality_accuracy" in data.metrics


def test_labels_joined_from_a_table_equal_the_label_column(world, tmp_path, mlflow_env):
    stream = world["stream"]
    with mlflow.start_run():
        column = monitor(stream.scored, str(tmp_path / "a"), label_column="malignant")
    with mlflow.start_run():
        joined = monitor(stream.scored, str(tmp_path / "b"), label_column="malignant",
                         label_table=str(world["folder"] / "labels"), key="row_id")
    assert joined.quality == column.quality and joined.quality["accuracy"] > 0.9


def test_a_crash_before_the_commit_consumes_nothing(world, metrics, monkeypatch):
    stream = world["stream"]

    def crash(*args, **kwargs):
        raise RuntimeError("killed while drawing")

    monkeypatch.setattr(monitor_module, "plot_over_windows", crash)
    with pytest.raises(RuntimeError), mlflow.start_run():
        monitor(stream.scored, metrics)
    assert not DeltaTable.is_deltatable(metrics)
    monkeypatch.undo()
    with mlflow.start_run():
        result = monitor(stream.scored, metrics)
    assert (result.window_start, result.window_end) == (0, 2)
    assert read_history(metrics, stream.scored)["window_end"].tolist() == [2, 2]


BAD_INPUT = [
    ("thresholds not numbers", ["--thresholds", '{"psi": "high"}'],
     "threshold psi 'high' is not a number"),
    ("drift_share not a number", ["--drift_share", "most"], "drift_share 'most' is not a finite"),
    ("window rule", ["--window_rule", "2 of"], "window_rule '2 of' is not 'N/M'"),
    ("retrain exit code", ["--retrain_exit_code", "2"], "retrain_exit_code '2' must be 0 or"),
    ("no model_version", ["--scored_table", "{folder}/no_model_version"],
     "has no column(s) ['model_version']"),
    ("no lineage", ["--scored_table", "{no_lineage}"],
     "model 'no_lineage' version 1 has no lineage"),
    ("label table without the key", ["--label_table", "{folder}/labels_no_key", "--key", "row_id",
                                     "--label_column", "malignant"],
     "labels_no_key' has no column 'row_id'"),
    ("scored table without the key", ["--label_table", "{folder}/labels", "--key", "case",
                                      "--label_column", "malignant"], "has no column 'case'"),
    ("label column missing", ["--label_column", "diagnosis"], "has no label column 'diagnosis'"),
    ("key without label table", ["--key", "row_id"], "key is set but label_table is not"),
    ("missing scored table", ["--scored_table", "{folder}/nothing"], "no Delta table at"),
    ("deletion vectors", ["--scored_table", "{folder}/dv_scored"],
     "has deletion vectors enabled, which monitor cannot read yet"),
    ("quality metric of another task", ["--quality_metric", "rmse"],
     "quality_metric 'rmse' is not computable from classification"),
]


@pytest.mark.parametrize("case, args, message", BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_fails_in_one_line_and_appends_nothing(case, args, message, world, metrics,
                                                         capsys):
    stream = world["stream"]
    aliases = MlflowClient().get_registered_model(stream.model_name).aliases
    argv = ["--scored_table", stream.scored, "--metrics_table", metrics]
    argv += [a.replace("{folder}", str(world["folder"]))
             .replace("{no_lineage}", world["no_lineage"]) for a in args]
    code, out, err = _main(capsys, *argv)
    assert code == 2
    [line] = err.strip().splitlines()
    assert line.startswith("error: monitor: ") and message in line, line
    assert latest_run("monitor").info.status == "FAILED"
    assert not DeltaTable.is_deltatable(metrics)
    assert "retrain:" not in out
    assert MlflowClient().get_registered_model(stream.model_name).aliases == aliases


@pytest.mark.slow
def test_mlflow_run_monitor_records_the_decision_and_exits_zero(world, metrics, mlflow_env,
                                                               tmp_path):
    from tests.entrypoints.test_mlflow_run import _mlflow_run

    stream = world["stream"]
    result = _mlflow_run("monitor", {"scored_table": stream.scored, "metrics_table": metrics,
                                     "thresholds": '{"psi": 0.0001}', "drift_share": "0.01"},
                         mlflow_env, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]  # MLproject: retrain_exit_code 0
    assert "retrain: yes (window 0..2, model version 2" in result.stdout
    run = latest_run("monitor")
    assert run.info.status == "FINISHED" and run.data.tags["monitor.retrain"] == "yes"
    assert DeltaTable(metrics).version() == 0
