"""Comparing rows between deltalake (Arrow) and Spark.

Spark returns timestamps as naive datetimes in the session time zone (UTC in these tests);
Arrow returns them zone-aware, so both sides are normalized to naive UTC.
"""

import datetime

import pyarrow as pa


def _naive_utc(value):
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return value


def sorted_rows(table: pa.Table, key: str) -> list:
    """Rows of an Arrow table as dicts, sorted by ``key``."""
    rows = [{k: _naive_utc(v) for k, v in row.items()} for row in table.to_pylist()]
    return sorted(rows, key=lambda row: row[key])


def spark_rows(frame, key: str) -> list:
    """Rows of a Spark DataFrame as dicts, sorted by ``key``."""
    return sorted((row.asDict() for row in frame.collect()), key=lambda row: row[key])
