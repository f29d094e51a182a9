"""-C option parsing: defaults, round trips and one-line errors."""

import json

import pytest

from mlflow_delta_plugin.deployment.config import CONFIG_KEYS, parse_config, parse_scoring_spec
from mlflow_delta_plugin.errors import InvalidInputError

BASE = {"input_table": "dbfs:/data/in", "output_table": "dbfs:/data/out", "cluster_id": "c-1"}


def test_defaults_and_round_trip():
    config = parse_config(BASE)
    assert config.scoring.input_version is None and config.scoring.engine == "spark"
    assert config.tracking_uri == "databricks" and config.registry_uri is None
    assert parse_config(config.to_options()) == config


def test_new_cluster_from_json_text_file_or_backend_config(tmp_path):
    spec = {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1}
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps({"new_cluster": spec}))
    options = {k: v for k, v in BASE.items() if k != "cluster_id"}
    assert parse_config({**options, "new_cluster": json.dumps(spec)}).new_cluster == spec
    assert parse_config({**options, "new_cluster": str(path)}).new_cluster == spec


def test_merged_replaces_cluster_kind_and_keeps_the_rest():
    config = parse_config({**BASE, "schedule": "0 0 6 * * ?", "input_version": "3"})
    merged = config.merged({"new_cluster": '{"num_workers": 2}'})
    assert merged.cluster_id is None and merged.new_cluster == {"num_workers": 2}
    assert merged.schedule == "0 0 6 * * ?" and merged.scoring.input_version == 3


@pytest.mark.parametrize("options, message", [
    ({"output_table": "o", "cluster_id": "c"}, "-C input_table=... is required"),
    ({**BASE, "input_version": "-1"}, "is not 'latest' or a version number"),
    ({**BASE, "engine": "dask"}, "-C engine='dask' is not one of"),
    ({**BASE, "new_cluster": '{"num_workers": 1}'}, "exactly one of -C cluster_id"),
    ({**BASE, "new_cluster": "{}", "cluster_id": ""}, "must be a JSON object"),
    ({"input_table": "i", "output_table": "o"}, "exactly one of -C cluster_id"),
    ({**BASE, "new_cluster": "nope", "cluster_id": ""}, "neither JSON text nor the path"),
    ({**BASE, "schedule": "daily"}, "is not a Quartz cron expression"),
    ({**BASE, "timeout_seconds": "0"}, "is not a positive whole number"),
    ({**BASE, "feature_columns": "a,b c"}, "invalid column names"),
    ({**BASE, "staging_dir": "/tmp/x"}, "must be a dbfs:/ or /Volumes/ folder"),
    ({**BASE, "tokn": "x"}, r"unknown -C option\(s\) \['tokn'\]"),
])
def test_errors_are_one_line(options, message):
    with pytest.raises(InvalidInputError, match=message) as caught:
        parse_config(options)
    assert "\n" not in caught.value.message


def test_scoring_spec_alone_for_run_local():
    spec = parse_scoring_spec({"input_table": "in", "output_table": "out",
                               "feature_columns": "x1, x2", "engine": "pandas"})
    assert spec.feature_columns == ("x1", "x2") and spec.engine == "pandas"


def test_plugin_is_discovered_with_help_for_every_key():
    from mlflow.deployments import get_deploy_client
    from mlflow.deployments.interface import _target_help

    client = get_deploy_client("databricks-cluster")
    assert type(client).__name__ == "DatabricksClusterDeploymentClient"
    text = _target_help("databricks-cluster")
    assert all(f"  {key}:" in text for key in CONFIG_KEYS)
