"""Bad input, table-driven: one line on stderr, non-zero exit, run FAILED, nothing changed.

Every case runs the real entry point (in-process, through its ``main(argv)``) against a real
feature table (version 0) and registry; afterwards the table must still be at version 0 and the
model name must have no registered version.
"""

from pathlib import Path

import mlflow
import pytest
from deltalake import DeltaTable
from mlflow import MlflowClient

from tests.conftest import load_entrypoint

SAMPLE_HEADER = "a,b,y\n"


def _write(path: Path, text: str, binary: bool = False) -> str:
    path.write_bytes(text if binary else text.encode())
    return str(path)


def _inputs(tmp: Path) -> dict:
    """Bad input files, built on demand by name."""
    late_type_change = SAMPLE_HEADER + "".join(f"{i},{i * 2},{i % 2}\n" for i in range(120_000))
    return {
        "ragged.csv": lambda: _write(tmp / "ragged.csv", SAMPLE_HEADER + "1,2,0\n1,2,3,4,5\n"),
        "null_label.csv": lambda: _write(tmp / "null_label.csv", SAMPLE_HEADER + "1,2,0\n3,4,\n"),
        "only_label.csv": lambda: _write(tmp / "only_label.csv", "id,y\n1,0\n2,1\n"),
        "empty.csv": lambda: _write(tmp / "empty.csv", ""),
        "header_only.csv": lambda: _write(tmp / "header_only.csv", SAMPLE_HEADER),
        "late_type.csv": lambda: _write(tmp / "late_type.csv", late_type_change + "oops,1,0\n"),
        "sheet.xlsx": lambda: _write(tmp / "sheet.xlsx", "PK\x03\x04"),
        "stray_text.csv": lambda: _write(tmp / "stray_text.csv", SAMPLE_HEADER + "1,2,0\n" * 50
                                         + "oops,1,0\n"),
        "has_split.csv": lambda: _write(tmp / "has_split.csv", "a,split,y\n1,x,0\n"),
        "not_utf8.csv": lambda: _write(tmp / "not_utf8.csv", b"a,b,y\n\xff\xfe,1,0\n", binary=True),
        "empty_dir": lambda: str((tmp / "empty_dir").mkdir() or tmp / "empty_dir"),
    }


PREPARE_CASES = [
    # (case id, argv with {input}/{table} placeholders, expected words in the error)
    ("missing-file", ["--input", "/nonexistent/data.csv"], "does not exist"),
    ("ragged-csv", ["--input", "{ragged.csv}", "--label", "y"], "Expected 3 columns, got 5"),
    ("missing-label", ["--label", "no_such_column"], "label column 'no_such_column' is not in"),
    ("null-label", ["--input", "{null_label.csv}", "--label", "y"], "null or NaN"),
    ("no-features", ["--input", "{only_label.csv}", "--label", "y", "--key", "id"],
     "no usable feature"),
    ("empty-file", ["--input", "{empty.csv}", "--label", "y"], "is empty"),
    ("no-rows", ["--input", "{header_only.csv}", "--label", "y"], "has no rows"),
    ("type-changes-late", ["--input", "{late_type.csv}", "--label", "y"],
     "cannot be read consistently"),
    ("stray-text-in-numbers", ["--input", "{stray_text.csv}", "--label", "y"],
     "numeric except for values like 'oops'"),
    ("unknown-format", ["--input", "{sheet.xlsx}", "--label", "y"], "unknown format"),
    ("split-column-taken", ["--input", "{has_split.csv}", "--label", "y"], "named 'split'"),
    ("not-utf8", ["--input", "{not_utf8.csv}", "--label", "y"], "not valid UTF-8"),
    ("folder-without-data", ["--input", "{empty_dir}", "--label", "y"], "holds neither"),
    ("bad-mode", ["--mode", "upsert"], "invalid choice: 'upsert'"),
    ("fraction-out-of-range", ["--test_fraction", "1.5"], "test_fraction 1.5 is out of range"),
    ("fraction-not-a-number", ["--test_fraction", "lots"], "invalid float value: 'lots'"),
    ("seed-not-an-integer", ["--seed", "4.2"], "invalid int value: '4.2'"),
    ("missing-key-column", ["--key", "patient"], "key column 'patient' is not in"),
    ("unknown-engine", ["--engine", "pandas"], "engine 'pandas' is not one of"),
]

TRAIN_CASES = [
    ("unknown-model-type", ["--model_type", "xgboost_deluxe"], "model_type 'xgboost_deluxe' is unknown"),
    ("malformed-json", ["--hyperparams", "{max_depth: 3"], "not valid JSON"),
    ("json-not-object", ["--hyperparams", "[1, 2]"], "must be a JSON object"),
    ("unknown-hyperparameter", ["--model_type", "linear", "--hyperparams", '{"depth": 3}'],
     "['depth'] are not valid for model_type 'linear'"),
    ("bad-hyperparameter-value", ["--model_type", "random_forest", "--hyperparams",
                                  '{"n_estimators": -4}'], "n_estimators"),
    ("version-does-not-exist", ["--version", "99"], "has no version 99"),
    ("version-not-a-number", ["--version", "v2"], "'v2' is not a Delta version"),
    ("table-not-delta", ["--table", "{plain_dir}"], "no Delta table"),
    ("table-missing", ["--table", "/nonexistent/table"], "no Delta table"),
    ("unknown-task", ["--task", "clustering"], "task 'clustering' is not one of"),
    ("continuous-label-as-classes", ["--task", "classification", "--label", "mean_area"],
     "continuous values"),
    ("invalid-registered-name", ["--registered_model", "team/model"], "not a valid model name"),
    ("seed-not-an-integer", ["--seed", "abc"], "invalid int value: 'abc'"),
    ("unknown-engine", ["--engine", "dask"], "engine 'dask' is not one of"),
    ("spark-model-on-embedded", ["--model_type", "spark_gbt"], "engine=spark"),
]


def _fill(argv: list, files: dict, table: str, extra: dict) -> list:
    built = []
    for arg in argv:
        if arg.startswith("{") and arg.endswith("}") and arg[1:-1] in files:
            built.append(files[arg[1:-1]]())
        elif arg in ("{plain_dir}",):
            built.append(extra[arg[1:-1]])
        else:
            built.append(arg)
    return built


def _assert_failed_cleanly(capsys, exit_code: int, expected: str) -> None:
    err = capsys.readouterr().err
    assert exit_code == 2, err
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, err
    assert expected in error_lines[0], error_lines[0]
    assert "Traceback" not in err
    [run] = mlflow.search_runs(max_results=1, order_by=["start_time DESC"], output_format="list")
    assert run.info.status == "FAILED"
    assert run.data.tags["mlflow_delta_plugin.error"] in error_lines[0]


@pytest.mark.parametrize("case_id, argv, expected", PREPARE_CASES, ids=[c[0] for c in PREPARE_CASES])
def test_prepare_rejects(prepared_table, tmp_path, capsys, case_id, argv, expected):
    capsys.readouterr()
    argv = _fill(argv, _inputs(tmp_path), prepared_table, {})
    code = load_entrypoint("prepare").main(["--table", prepared_table, *argv])
    _assert_failed_cleanly(capsys, code, expected)
    assert DeltaTable(prepared_table).version() == 0


@pytest.mark.parametrize("case_id, argv, expected", TRAIN_CASES, ids=[c[0] for c in TRAIN_CASES])
def test_train_rejects(prepared_table, tmp_path, capsys, model_name, case_id, argv, expected):
    capsys.readouterr()
    plain_dir = tmp_path / "plain"
    plain_dir.mkdir()
    argv = _fill(argv, {}, prepared_table, {"plain_dir": str(plain_dir)})
    base = ["--table", prepared_table, "--registered_model", model_name]
    code = load_entrypoint("train").main([*base, *argv])
    _assert_failed_cleanly(capsys, code, expected)
    assert DeltaTable(prepared_table).version() == 0
    assert MlflowClient().search_model_versions(f"name='{model_name}'") == []
