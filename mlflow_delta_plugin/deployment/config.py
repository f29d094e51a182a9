"""The ``-C key=value`` options of the ``databricks-cluster`` target, parsed and validated.

MLflow hands every ``-C`` value over as a string. :func:`parse_config` turns them into a
:class:`DeploymentConfig` (the cluster side: job, cluster, schedule) holding a
:class:`ScoringSpec` (what the scorer needs, shared with ``run_local``). Every error is one
line naming the key and what to write instead.
"""

import json
import os
import re
from dataclasses import dataclass
from typing import Mapping, Optional

from mlflow_delta_plugin.errors import InvalidInputError

__all__ = ["CONFIG_KEYS", "DeploymentConfig", "ScoringSpec", "parse_config", "parse_scoring_spec"]

ENGINES = ("spark", "pandas")
DEFAULT_STAGING_DIR = "dbfs:/FileStore/mlflow-delta-plugin"

CONFIG_KEYS: dict[str, str] = {
    "input_table": "Delta table to score: a path (/dbfs/..., dbfs:/..., s3://..., a local path for "
                   "run-local) or a catalog table name catalog.schema.table. Required.",
    "output_table": "Delta table the predictions are appended to (created on first run); same "
                    "forms as input_table. Required.",
    "input_version": "'latest' (default: the version current when each run starts) or a Delta "
                     "version number to pin.",
    "feature_columns": "comma-separated input columns fed to the model (default: the model "
                       "signature's inputs, else every column).",
    "prediction_column": "name of the prediction column (default 'prediction').",
    "result_type": "Spark SQL type of the prediction for mlflow.pyfunc.spark_udf (default "
                   "'double').",
    "engine": "'spark' (default: mlflow.pyfunc.spark_udf) or 'pandas' (pyfunc.predict on the "
              "driver, for small tables).",
    "cluster_id": "id of an existing cluster to run on (exactly one of cluster_id, new_cluster).",
    "new_cluster": "job cluster spec as JSON text or the path of a JSON file, e.g. "
                   "'{\"spark_version\": \"15.4.x-cpu-ml-scala2.12\", \"node_type_id\": "
                   "\"i3.xlarge\", \"num_workers\": 1}'.",
    "schedule": "Quartz cron expression for scheduled runs, e.g. '0 0 6 * * ?' (default: none, "
                "runs only on create/update/run-now).",
    "timezone": "time zone id of the schedule (default 'UTC').",
    "tracking_uri": "MLflow tracking URI the job loads the model from (default 'databricks').",
    "registry_uri": "MLflow registry URI the job resolves models:/ URIs with (default: MLflow's "
                    "default on the cluster, Unity Catalog; 'databricks' for the workspace "
                    "registry).",
    "staging_dir": f"DBFS folder for the code wheel, driver script and predict requests "
                   f"(default '{DEFAULT_STAGING_DIR}').",
    "timeout_seconds": "limit of one job run in seconds (default 3600).",
}

_LOCAL_KEYS = ("input_table", "output_table", "input_version", "feature_columns",
               "prediction_column", "result_type", "engine", "tracking_uri", "registry_uri")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ScoringSpec:
    """What one scoring pass needs besides the model.

    Attributes:
        input_table: table to score (path, URI or catalog name).
        output_table: table the predictions are appended to.
        input_version: pinned Delta version, or None for the latest at scoring time.
        feature_columns: columns fed to the model, or None (signature inputs, else all).
        prediction_column: name of the prediction column.
        result_type: Spark SQL type of the prediction (Spark engine).
        engine: ``spark`` or ``pandas``.
    """

    input_table: str
    output_table: str
    input_version: Optional[int] = None
    feature_columns: Optional[tuple] = None
    prediction_column: str = "prediction"
    result_type: str = "double"
    engine: str = "spark"


@dataclass(frozen=True)
class DeploymentConfig:
    """A deployment's full configuration: scoring plus where and when the job runs.

    Attributes:
        scoring: the scoring spec.
        cluster_id: existing cluster to run on, or None.
        new_cluster: job cluster spec (``compute.ClusterSpec`` as a dict), or None.
        schedule: Quartz cron expression, or None.
        timezone: time zone id of the schedule.
        tracking_uri: tracking URI the job uses.
        registry_uri: registry URI the job uses, or None for the cluster's default.
        staging_dir: DBFS folder for code and predict files.
        timeout_seconds: limit of one job run.
    """

    scoring: ScoringSpec
    cluster_id: Optional[str] = None
    new_cluster: Optional[dict] = None
    schedule: Optional[str] = None
    timezone: str = "UTC"
    tracking_uri: str = "databricks"
    registry_uri: Optional[str] = None
    staging_dir: str = DEFAULT_STAGING_DIR
    timeout_seconds: int = 3600

    def to_options(self) -> dict[str, str]:
        """The configuration as ``-C`` options (strings), defaults left out."""
        scoring = self.scoring
        options = {"input_table": scoring.input_table, "output_table": scoring.output_table,
                   "input_version": "latest" if scoring.input_version is None
                   else str(scoring.input_version),
                   "prediction_column": scoring.prediction_column,
                   "result_type": scoring.result_type, "engine": scoring.engine,
                   "tracking_uri": self.tracking_uri, "staging_dir": self.staging_dir,
                   "timeout_seconds": str(self.timeout_seconds)}
        if scoring.feature_columns:
            options["feature_columns"] = ",".join(scoring.feature_columns)
        if self.cluster_id:
            options["cluster_id"] = self.cluster_id
        if self.new_cluster:
            options["new_cluster"] = json.dumps(self.new_cluster, sort_keys=True)
        if self.schedule:
            options["schedule"] = self.schedule
            options["timezone"] = self.timezone
        if self.registry_uri:
            options["registry_uri"] = self.registry_uri
        return options

    def merged(self, updates: Mapping[str, str]) -> "DeploymentConfig":
        """A new configuration: these options, with ``updates`` replacing some of them.

        Giving ``cluster_id`` drops ``new_cluster`` and the other way round.
        """
        options = self.to_options()
        if "cluster_id" in updates:
            options.pop("new_cluster", None)
        if "new_cluster" in updates:
            options.pop("cluster_id", None)
        options.update(updates)
        return parse_config(options)


def _required(options: Mapping[str, str], key: str) -> str:
    value = (options.get(key) or "").strip()
    if not value:
        raise InvalidInputError(f"-C {key}=... is required: {CONFIG_KEYS[key]}")
    return value


def _version(text: Optional[str]) -> Optional[int]:
    if text is None or text.strip().lower() in ("", "latest"):
        return None
    try:
        version = int(text)
    except ValueError:
        version = -1
    if version < 0:
        raise InvalidInputError(f"-C input_version='{text}' is not 'latest' or a version number "
                                "(0, 1, ...)")
    return version


def _columns(text: Optional[str]) -> Optional[tuple]:
    if text is None or not text.strip():
        return None
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    bad = [name for name in names if not _COLUMN.match(name)]
    if bad:
        raise InvalidInputError(f"-C feature_columns has invalid column names {bad}; write "
                                "comma-separated names like 'age,income'")
    return names


def _positive(key: str, text: Optional[str], default: int) -> int:
    if text is None or not text.strip():
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise InvalidInputError(f"-C {key}='{text}' is not a positive whole number")
    return value


def _cluster_json(text: str) -> dict:
    source = text.strip()
    if not source.startswith("{"):
        path = os.path.expanduser(source.lstrip("@"))
        if not os.path.isfile(path):
            raise InvalidInputError(f"-C new_cluster='{text}' is neither JSON text nor the path "
                                    "of a JSON file")
        with open(path, encoding="utf-8") as handle:
            source = handle.read()
    try:
        spec = json.loads(source)
    except ValueError as exc:
        raise InvalidInputError(f"-C new_cluster is not valid JSON: {exc}") from None
    if isinstance(spec, dict) and isinstance(spec.get("new_cluster"), dict):
        spec = spec["new_cluster"]  # the --backend-config form of `mlflow run -b databricks`
    if not isinstance(spec, dict) or not spec:
        raise InvalidInputError("-C new_cluster must be a JSON object with the cluster spec "
                                "(spark_version, node_type_id, num_workers, ...)")
    return spec


def _schedule(text: Optional[str]) -> Optional[str]:
    if text is None or not text.strip():
        return None
    fields = text.split()
    if len(fields) not in (6, 7):
        raise InvalidInputError(f"-C schedule='{text}' is not a Quartz cron expression (6 or 7 "
                                "fields: sec min hour day month weekday [year], e.g. "
                                "'0 0 6 * * ?')")
    return " ".join(fields)


def _check_keys(options: Mapping[str, str], allowed) -> None:
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise InvalidInputError(f"unknown -C option(s) {unknown}; known: {sorted(allowed)} "
                                "(see `mlflow deployments help -t databricks-cluster`)")


def parse_scoring_spec(options: Mapping[str, str], *, check_keys: bool = True) -> ScoringSpec:
    """The scoring part of ``-C`` options (all that ``run_local`` needs).

    Raises:
        InvalidInputError: a missing, unknown or malformed option.

    Example:
        >>> parse_scoring_spec({"input_table": "/data/in", "output_table": "/data/out"}).engine
        'spark'
    """
    if check_keys:
        _check_keys(options, _LOCAL_KEYS)
    engine = (options.get("engine") or "spark").strip().lower()
    if engine not in ENGINES:
        raise InvalidInputError(f"-C engine='{engine}' is not one of {list(ENGINES)}")
    prediction = (options.get("prediction_column") or "prediction").strip()
    if not _COLUMN.match(prediction):
        raise InvalidInputError(f"-C prediction_column='{prediction}' is not a valid column name")
    return ScoringSpec(
        input_table=_required(options, "input_table"),
        output_table=_required(options, "output_table"),
        input_version=_version(options.get("input_version")),
        feature_columns=_columns(options.get("feature_columns")),
        prediction_column=prediction,
        result_type=(options.get("result_type") or "double").strip(),
        engine=engine,
    )


def parse_config(options: Optional[Mapping[str, str]]) -> DeploymentConfig:
    """All ``-C`` options of a cluster deployment.

    Raises:
        InvalidInputError: a missing, unknown or malformed option, or not exactly one of
            ``cluster_id`` / ``new_cluster``.

    Example:
        >>> parse_config({"input_table": "/dbfs/in", "output_table": "/dbfs/out",
        ...               "cluster_id": "0101-abc"}).cluster_id
        '0101-abc'
    """
    options = {key: str(value) for key, value in (options or {}).items()}
    _check_keys(options, CONFIG_KEYS)
    cluster_id = (options.get("cluster_id") or "").strip() or None
    new_cluster = _cluster_json(options["new_cluster"]) if (options.get("new_cluster") or
                                                            "").strip() else None
    if (cluster_id is None) == (new_cluster is None):
        raise InvalidInputError("give exactly one of -C cluster_id=<existing cluster id> or "
                                "-C new_cluster=<cluster spec JSON or file>")
    staging = (options.get("staging_dir") or DEFAULT_STAGING_DIR).strip().rstrip("/")
    if not (staging.startswith("dbfs:/") or staging.startswith("/Volumes/")):
        raise InvalidInputError(f"-C staging_dir='{staging}' must be a dbfs:/ or /Volumes/ folder")
    return DeploymentConfig(
        scoring=parse_scoring_spec(options, check_keys=False),
        cluster_id=cluster_id,
        new_cluster=new_cluster,
        schedule=_schedule(options.get("schedule")),
        timezone=(options.get("timezone") or "UTC").strip(),
        tracking_uri=(options.get("tracking_uri") or "databricks").strip(),
        registry_uri=(options.get("registry_uri") or "").strip() or None,
        staging_dir=staging,
        timeout_seconds=_positive("timeout_seconds", options.get("timeout_seconds"), 3600),
    )

