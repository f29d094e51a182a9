"""The ``databricks-cluster`` MLflow deployment target.

A deployment is a Databricks job that batch-scores a Delta table with an MLflow model through
``mlflow.pyfunc.spark_udf`` and appends the predictions to a Delta table. Modules, one concern
each:

- :mod:`.target`: the plugin module MLflow loads (the client class, ``run_local``,
  ``target_help``).
- :mod:`.config`: the ``-C`` options.
- :mod:`.scorer`: the one scoring code path (cluster job, ``run_local``, tests).
- :mod:`.job_spec`: the Databricks job settings built from a configuration.
- :mod:`.code_bundle`: the package as a wheel plus the driver script the job runs.
- :mod:`.workspace`: databricks-sdk calls (uploads, runs, waiting, errors).
- :mod:`.job_main`: what the job runs on the cluster.
- :mod:`.errors`: the target's errors.
"""
