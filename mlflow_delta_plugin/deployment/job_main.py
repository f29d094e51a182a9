"""What a ``databricks-cluster`` deployment's job runs on the cluster.

The job's ``spark_python_task`` runs a two-line driver script that calls :func:`main` with the
task parameters. ``--mode score`` scores the input table into the output table (the scheduled
and first runs); ``--mode predict`` scores the rows of a Parquet request file and writes the
predictions next to it (one-time runs submitted by ``predict``). Both go through
:mod:`mlflow_delta_plugin.deployment.scorer`.

The parameters hold no secret: the cluster reaches MLflow with its own credentials.
"""

import argparse
import json
import sys
from typing import Any, Optional, Sequence

from mlflow_delta_plugin.deployment.config import ENGINES, ScoringSpec

__all__ = ["build_parser", "local_spark_session", "main", "scoring_spec"]



def build_parser() -> argparse.ArgumentParser:
    """The parser of the task parameters (also used to read a deployment back from its job)."""
    parser = argparse.ArgumentParser(prog="mlflow-delta-plugin-deployment")
    parser.add_argument("--mode", choices=("score", "predict"), default="score")
    parser.add_argument("--deployment", required=True)
    parser.add_argument("--model-uri", required=True)
    parser.add_argument("--input-table", required=True)
    parser.add_argument("--output-table", required=True)
    parser.add_argument("--input-version", default="latest")
    parser.add_argument("--feature-columns", default="")
    parser.add_argument("--prediction-column", default="prediction")
    parser.add_argument("--result-type", default="double")
    parser.add_argument("--engine", choices=ENGINES, default="spark")
    parser.add_argument("--tracking-uri", default="databricks")
    parser.add_argument("--registry-uri", default="")
    parser.add_argument("--job-run-id", default="")
    parser.add_argument("--request-input", default="")
    parser.add_argument("--request-output", default="")
    return parser


def scoring_spec(args: argparse.Namespace) -> ScoringSpec:
    """The scoring spec the parsed parameters describe."""
    version = None if args.input_version in ("", "latest") else int(args.input_version)
    columns = tuple(c for c in args.feature_columns.split(",") if c) or None
    return ScoringSpec(input_table=args.input_table, output_table=args.output_table,
                       input_version=version, feature_columns=columns,
                       prediction_column=args.prediction_column, result_type=args.result_type,
                       engine=args.engine)


def local_spark_session() -> Any:
    """The cluster's session on Databricks; elsewhere a local one (see
    :func:`mlflow_delta_plugin.engine.spark_session`: ``$MLFLOW_DELTA_SPARK_MASTER``, workers
    on this interpreter)."""
    from mlflow_delta_plugin.engine import spark_session

    return spark_session()


def _driver_location(table: str, native_delta: bool) -> str:
    """A DBFS table location in the form the engine reads: ``dbfs:/`` for native Delta,
    the ``/dbfs/`` mount for deltalake."""
    if native_delta and table.startswith("/dbfs/"):
        return "dbfs:/" + table[len("/dbfs/"):]
    if not native_delta and table.startswith("dbfs:/"):
        return "/dbfs/" + table[len("dbfs:/"):].lstrip("/")
    return table


def _job_run_id(text: str) -> Optional[str]:
    """The job run id, unless the parameter was not substituted (``{{job.run_id}}``)."""
    return text if text and not text.startswith("{{") else None


def _predict(spark: Any, args: argparse.Namespace, spec: ScoringSpec) -> dict:
    import pandas as pd

    from mlflow_delta_plugin.deployment.scorer import resolve_model, score_frame

    pinned_uri, version = resolve_model(args.model_uri)
    rows = pd.read_parquet(args.request_input)
    frame = spark.createDataFrame(rows) if spark is not None else rows
    scored = score_frame(spark, pinned_uri, frame, spec)
    if spark is not None:
        scored = scored.select(spec.prediction_column).toPandas()
    scored[[spec.prediction_column]].to_parquet(args.request_output, index=False)
    return {"model_uri": args.model_uri, "model_version": version, "rows": len(rows)}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run one scoring pass as the task parameters say; prints the result as JSON.

    Raises:
        DeltaPluginError or MlflowException: the pass failed (the run fails with it).
    """
    args = build_parser().parse_args(argv)
    import mlflow

    mlflow.set_tracking_uri(args.tracking_uri)
    if args.registry_uri:
        mlflow.set_registry_uri(args.registry_uri)
    spec = scoring_spec(args)
    spark = local_spark_session() if spec.engine == "spark" else None
    native = False
    if spark is not None:
        from mlflow_delta_plugin.spark import session_has_native_delta

        native = session_has_native_delta(spark)
    spec = ScoringSpec(**{**spec.__dict__,
                          "input_table": _driver_location(spec.input_table, native),
                          "output_table": _driver_location(spec.output_table, native)})
    if args.mode == "predict":
        result = _predict(spark, args, spec)
    else:
        from mlflow_delta_plugin.deployment.scorer import score_table

        result = score_table(spark, args.model_uri, spec, deployment=args.deployment,
                             job_run_id=_job_run_id(args.job_run_id)).to_dict()
    print("mlflow-delta-plugin deployment result: " + json.dumps(result, sort_keys=True))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":  # pragma: no cover - the driver script calls main()
    sys.exit(main())
