"""Prepare's data path: raw input in, checked and split record batches out.

- :mod:`~mlflow_delta_plugin.ingest.readers`: opens a CSV, Parquet or Delta input as a stream of
  Arrow record batches (memory bounded by the batch, not the file).
- :mod:`~mlflow_delta_plugin.ingest.checks`: the checks every batch passes, shared by the
  embedded engine and Spark's Python workers.
- :mod:`~mlflow_delta_plugin.ingest.split`: the deterministic, seeded ``train``/``test`` split.
- :mod:`~mlflow_delta_plugin.ingest.profile`: a streaming per-column data profile.

The package imports nothing on its own (no MLflow, no Spark), so Spark workers load only the
modules they use.
"""
