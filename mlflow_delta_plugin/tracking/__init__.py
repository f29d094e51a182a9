"""MLflow runs and registry writes of the lifecycle steps.

- :mod:`~mlflow_delta_plugin.tracking.runs`: the run a step runs in (tagged, FAILED on error).
- :mod:`~mlflow_delta_plugin.tracking.registry`: registering a model with its data lineage.
- :mod:`~mlflow_delta_plugin.tracking.run_records`: a finished run written in one go, completed
  exactly once after a crash.
- :mod:`~mlflow_delta_plugin.tracking.run_writer` and
  :mod:`~mlflow_delta_plugin.tracking.run_writer_process`: writing finished runs (tuning trials)
  off the caller's process.

Importing the package imports none of them.
"""
