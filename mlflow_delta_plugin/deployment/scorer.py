"""The one scoring code path of the deployment target: cluster job, ``run_local`` and tests.

:func:`score_table` reads a pinned version of a Delta table, scores it with an MLflow model
(``mlflow.pyfunc.spark_udf`` on a Spark session, ``pyfunc.load_model(...).predict`` without one)
and appends the rows plus ``prediction``, ``model_uri``, ``model_version``, ``input_version`` and
``scored_at`` to an output Delta table in one commit whose metadata names the deployment and the
job run. :func:`score_frame` is the model step alone, used by ``predict``.

Example:
    >>> from mlflow_delta_plugin.deployment.config import ScoringSpec
    >>> spec = ScoringSpec(input_table="data/features", output_table="data/predictions")
    >>> score_table(None, "models:/churn@champion", spec, deployment="churn")  # doctest: +SKIP
    ScoringResult(model_uri='models:/churn@champion', model_version='3', ...)
"""

import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Optional, Sequence

import pandas as pd

from mlflow_delta_plugin.delta.lineage import WRITE_ID_KEY, commit_properties, find_write
from mlflow_delta_plugin.delta.table import normalize_table_uri, open_table, resolve_version
from mlflow_delta_plugin.deployment.config import ScoringSpec
from mlflow_delta_plugin.errors import InvalidInputError

__all__ = ["METADATA_COLUMNS", "ScoringResult", "resolve_model", "score_frame", "score_table"]

ENTRY_POINT = "deploy"
DEPLOYMENT_KEY = "mlflow_delta_plugin.deployment"
MODEL_URI_KEY = "mlflow_delta_plugin.modelUri"
MODEL_VERSION_KEY = "mlflow_delta_plugin.modelVersion"
INPUT_KEY = "mlflow_delta_plugin.input"
JOB_RUN_KEY = "databricks.jobRunId"
METADATA_COLUMNS = ("model_uri", "model_version", "input_version", "scored_at")
_CATALOG_NAME = re.compile(r"^[A-Za-z_`][\w`-]*(\.[A-Za-z_`][\w`-]*){1,2}$")
_PANDAS_TYPES = {"double": "float64", "float": "float32", "long": "int64", "bigint": "int64",
                 "int": "int32", "integer": "int32", "string": "str", "boolean": "bool"}


@dataclass(frozen=True)
class ScoringResult:
    """What one scoring pass did.

    Attributes:
        model_uri: the model URI as configured (an alias URI stays an alias URI).
        model_version: the registry version it resolved to, or None for unregistered models.
        input_table: the table scored.
        input_version: the Delta version of it that was read.
        output_table: the table written.
        output_version: the Delta version holding the new predictions.
        rows: number of rows scored.
        scored_at: when scoring started (UTC).
    """

    model_uri: str
    model_version: Optional[str]
    input_table: str
    input_version: int
    output_table: str
    output_version: int
    rows: int
    scored_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (``scored_at`` as RFC 3339)."""
        payload = dict(self.__dict__)
        payload["scored_at"] = self.scored_at.isoformat()
        return payload


def resolve_model(model_uri: str) -> tuple[str, Optional[str]]:
    """Pin a model URI: ``(uri to load, registry version or None)``.

    ``models:/name@alias`` becomes ``models:/name/<version>`` so one scoring pass uses one
    version even when the alias moves meanwhile; other URIs load as given.
    """
    match = re.match(r"^models:/([^/@]+)(?:/([^/]+)|@(.+))$", model_uri.strip())
    if not match or match.group(1).startswith("m-"):
        return model_uri, None
    name, version, alias = match.groups()
    if version is not None and version.isdigit():
        return model_uri, version
    from mlflow import MlflowClient

    client = MlflowClient()
    if alias is not None:
        resolved = client.get_model_version_by_alias(name, alias).version
    else:  # models:/name/latest
        versions = client.search_model_versions(f"name='{name}'")
        if not versions:
            raise InvalidInputError(f"registered model '{name}' has no versions; register one")
        resolved = str(max(int(v.version) for v in versions))
    return f"models:/{name}/{resolved}", str(resolved)


def _features(available: Sequence[str], configured: Optional[Sequence[str]],
              signature_inputs: Optional[Sequence[str]]) -> list[str]:
    wanted = list(configured or signature_inputs or available)
    missing = [name for name in wanted if name not in available]
    if missing:
        raise InvalidInputError(f"input has no column(s) {missing} that the model needs; "
                                f"columns are {list(available)} (set -C feature_columns)")
    return wanted


def _signature_inputs(model_uri: str) -> Optional[list[str]]:
    from mlflow.models import get_model_info

    signature = get_model_info(model_uri).signature
    if signature is None or signature.inputs is None or not signature.inputs.has_input_names():
        return None
    return list(signature.inputs.input_names())


def score_frame(spark: Any, model_uri: str, frame: Any, spec: ScoringSpec) -> Any:
    """``frame`` plus the model's prediction in ``spec.prediction_column``.

    Args:
        spark: a SparkSession (``frame`` is a Spark DataFrame, scored with ``spark_udf``) or
            None (``frame`` is a pandas DataFrame, scored with ``pyfunc.predict``).
        model_uri: a pinned model URI (see :func:`resolve_model`).
        frame: the rows.
        spec: feature columns, prediction column and type.
    """
    import mlflow.pyfunc

    if spec.prediction_column in frame.columns:
        raise InvalidInputError(f"input already has a column '{spec.prediction_column}'; "
                                "set -C prediction_column to another name")
    if spark is not None:
        from pyspark.sql import functions as F

        features = _features(frame.columns, spec.feature_columns, _signature_inputs(model_uri))
        udf = mlflow.pyfunc.spark_udf(spark, model_uri, result_type=spec.result_type,
                                      env_manager="local")
        return frame.withColumn(spec.prediction_column, udf(*[F.col(c) for c in features]))
    model = mlflow.pyfunc.load_model(model_uri)
    schema = model.metadata.get_input_schema()
    names = list(schema.input_names()) if schema is not None and schema.has_input_names() else None
    features = _features(list(frame.columns), spec.feature_columns, names)
    predictions = model.predict(frame[features])
    if isinstance(predictions, pd.DataFrame):
        predictions = predictions.iloc[:, 0]
    values = pd.Series(list(predictions) if not hasattr(predictions, "__array__") else predictions,
                       index=frame.index)
    dtype = _PANDAS_TYPES.get(spec.result_type.lower())
    scored = frame.copy()
    scored[spec.prediction_column] = values.astype(dtype) if dtype else values
    return scored


def _spark_native(spark: Any) -> bool:
    from mlflow_delta_plugin.spark import session_has_native_delta

    return session_has_native_delta(spark)


def _is_catalog_table(spark: Any, table: str) -> bool:
    """Whether ``table`` names a catalog table: ``catalog.schema.table`` on a session with
    native Delta (Databricks). Anywhere else it is a path."""
    return spark is not None and bool(_CATALOG_NAME.match(table)) and _spark_native(spark)


def _catalog_version(spark: Any, name: str) -> int:
    return int(spark.sql(f"DESCRIBE HISTORY {name} LIMIT 1").collect()[0]["version"])


def _read_input(spark: Any, spec: ScoringSpec) -> tuple[Any, int, str]:
    """(rows, pinned version, table location) of the input."""
    table = spec.input_table
    if _is_catalog_table(spark, table):
        version = spec.input_version if spec.input_version is not None else \
            _catalog_version(spark, table)
        return spark.read.option("versionAsOf", version).table(table), version, table
    location = normalize_table_uri(table)
    if spark is not None:
        from mlflow_delta_plugin.spark import read_delta
        from mlflow_delta_plugin.spark.native import latest_version

        if spec.input_version is not None:
            version = spec.input_version
        elif _spark_native(spark):
            version = latest_version(spark, location)
        else:
            version = resolve_version(location).version
        return read_delta(spark, location, version), version, location
    version = resolve_version(location, version=spec.input_version).version
    return open_table(location, version).to_pyarrow_table().to_pandas(), version, location


def _with_metadata(spark: Any, scored: Any, model_uri: str, model_version: Optional[str],
                   input_version: int, scored_at: datetime) -> Any:
    if spark is not None:
        from pyspark.sql import functions as F

        return (scored.withColumn("model_uri", F.lit(model_uri))
                .withColumn("model_version", F.lit(model_version).cast("string"))
                .withColumn("input_version", F.lit(int(input_version)).cast("long"))
                .withColumn("scored_at", F.lit(scored_at).cast("timestamp")))
    scored = scored.copy()
    scored["model_uri"] = model_uri
    scored["model_version"] = pd.Series([model_version] * len(scored), index=scored.index,
                                        dtype="object")
    scored["input_version"] = pd.Series(input_version, index=scored.index, dtype="int64")
    scored["scored_at"] = pd.Series(pd.Timestamp(scored_at), index=scored.index) \
        .astype("datetime64[us, UTC]")
    return scored


def _write_output(spark: Any, scored: Any, table: str, metadata: dict) -> int:
    if _is_catalog_table(spark, table):
        (scored.write.format("delta").mode("append")
         .option("userMetadata", json.dumps(metadata, sort_keys=True)).saveAsTable(table))
        return _catalog_version(spark, table)
    location = normalize_table_uri(table)
    properties = commit_properties(None, ENTRY_POINT, write_id=metadata[WRITE_ID_KEY])
    properties.custom_metadata = {**(properties.custom_metadata or {}), **metadata}
    if spark is not None:
        from mlflow_delta_plugin.spark import write_delta

        return write_delta(scored, location, "append", properties)
    import pyarrow as pa
    from deltalake import write_deltalake

    write_deltalake(location, pa.Table.from_pandas(scored, preserve_index=False), mode="append",
                    commit_properties=properties)
    return find_write(location, metadata[WRITE_ID_KEY])


def score_table(spark: Any, model_uri: str, spec: ScoringSpec, *, deployment: str,
                job_run_id: Optional[str] = None) -> ScoringResult:
    """Score one version of ``spec.input_table`` and append the predictions to the output table.

    Args:
        spark: a SparkSession, or None to use pandas and deltalake on this machine.
        model_uri: any MLflow model URI (``models:/name@alias`` is pinned to one version).
        spec: input/output tables, pinned version, columns, engine settings.
        deployment: the deployment name, recorded in the output commit.
        job_run_id: the Databricks job run scoring, recorded in the commit when known.

    Returns:
        A :class:`ScoringResult` naming the versions read and written.

    Raises:
        TableNotFoundError, VersionNotFoundError, InvalidInputError, MlflowException (model).
    """
    scored_at = datetime.now(timezone.utc)
    pinned_uri, model_version = resolve_model(model_uri)
    rows, input_version, input_location = _read_input(spark, spec)
    scored = score_frame(spark, pinned_uri, rows, spec)
    scored = _with_metadata(spark, scored, model_uri, model_version, input_version, scored_at)
    metadata = {DEPLOYMENT_KEY: deployment, MODEL_URI_KEY: model_uri,
                MODEL_VERSION_KEY: model_version or "", WRITE_ID_KEY: uuid.uuid4().hex,
                INPUT_KEY: f"{input_location}@v{input_version}"}
    if job_run_id:
        metadata[JOB_RUN_KEY] = str(job_run_id)
    if spark is not None:
        scored = scored.cache()
        count = scored.count()
    else:
        count = len(scored)
    output_version = _write_output(spark, scored, spec.output_table, metadata)
    if spark is not None:
        scored.unpersist()
    output_table = spec.output_table if _is_catalog_table(spark, spec.output_table) \
        else normalize_table_uri(spec.output_table)
    return ScoringResult(model_uri=model_uri, model_version=model_version,
                         input_table=input_location, input_version=input_version,
                         output_table=output_table, output_version=output_version, rows=count,
                         scored_at=scored_at)
