"""Checking a write against the target table, and committing written files as one transaction.

The check runs on the driver before any task writes (so a bad write fails without leaving
files); the commit runs once after every task finished and adds all their files in a single
Delta commit, carrying the caller's commit metadata (MLflow run id, entry point, write id).
"""

from dataclasses import dataclass
from typing import Optional, Sequence

from deltalake import CommitProperties, DeltaTable
from deltalake import Schema as DeltaSchema
from deltalake.transaction import AddAction, create_table_with_add_actions
from pyspark.sql.types import StructType

from mlflow_delta_plugin.spark.file_writer import WrittenFile
from mlflow_delta_plugin.spark.schema import delta_to_spark, spark_to_delta

__all__ = ["WRITE_MODES", "WriteTarget", "check_write", "commit_files"]

WRITE_MODES = ("append", "overwrite")
_NULLABILITY_KEYS = ("nullable", "containsNull", "valueContainsNull")


@dataclass(frozen=True)
class WriteTarget:
    """Where and how a write lands, as checked before writing.

    Attributes:
        uri: table location.
        mode: ``append`` or ``overwrite``.
        exists: whether a Delta table is already there.
        partition_by: the table's partition columns (existing, or those of the new table).
        schema_json: the Delta schema the commit declares (Spark StructType JSON).
        not_null: columns declared NOT NULL.
        configuration: table properties set when this write creates the table.
    """

    uri: str
    mode: str
    exists: bool
    partition_by: tuple
    schema_json: str
    not_null: tuple
    configuration: tuple = ()


def check_write(uri: str, schema: StructType, mode: str,
                partition_by: Optional[Sequence[str]] = None) -> WriteTarget:
    """Check that data of ``schema`` can be written to ``uri`` in ``mode``.

    Appending needs the table's columns and types (any order, nullability aside); overwriting
    may change the schema but not the partitioning (delta-rs would record the new schema with
    the old partition columns).

    Raises:
        ValueError: the mode, schema or partitioning does not fit (one line).
    """
    if mode not in WRITE_MODES:
        raise ValueError(f"write mode '{mode}' is not one of {list(WRITE_MODES)}")
    names = schema.fieldNames()
    if len({n.lower() for n in names}) != len(names):
        raise ValueError(f"columns {names} repeat a name (Delta column names are case-insensitive)")
    wanted = list(partition_by) if partition_by is not None else None
    unknown = [c for c in wanted or [] if c not in names]
    if unknown:
        raise ValueError(f"partition columns {unknown} are not in the data; columns are {names}")
    spark_to_delta(schema)  # fails early on types Delta cannot store
    if not DeltaTable.is_deltatable(uri):
        partitions = tuple(wanted or ())
        if partitions and len(partitions) == len(names):
            raise ValueError("every column is a partition column; keep at least one data column")
        return WriteTarget(uri, mode, False, partitions, schema.json(),
                           tuple(f.name for f in schema.fields if not f.nullable))
    table = DeltaTable(uri)
    existing_partitions = tuple(table.metadata().partition_columns)
    if wanted is not None and tuple(wanted) != existing_partitions:
        raise ValueError(f"Delta table '{uri}' is partitioned by {list(existing_partitions)}, not "
                         f"{wanted}; write to a new table to change the partitioning")
    missing_partitions = [c for c in existing_partitions if c not in names]
    if missing_partitions:
        raise ValueError(f"the data lacks partition columns {missing_partitions} of Delta table "
                         f"'{uri}'")
    existing = delta_to_spark(table.schema())
    if mode == "overwrite":
        return WriteTarget(uri, mode, True, existing_partitions, schema.json(),
                           tuple(f.name for f in schema.fields if not f.nullable))
    _check_same_columns(uri, existing, schema)
    return WriteTarget(uri, mode, True, existing_partitions, existing.json(),
                       tuple(f.name for f in existing.fields if not f.nullable))


def _check_same_columns(uri: str, table_schema: StructType, data_schema: StructType) -> None:
    table_types = {f.name: f.dataType for f in table_schema.fields}
    data_types = {f.name: f.dataType for f in data_schema.fields}
    missing = [n for n in table_types if n not in data_types]
    extra = [n for n in data_types if n not in table_types]
    if missing or extra:
        raise ValueError(f"cannot append to Delta table '{uri}': the data lacks columns {missing} "
                         f"and has extra columns {extra}; select the table's columns or overwrite")
    differing = [f"{n} ({data_types[n].simpleString()} vs {t.simpleString()})"
                 for n, t in table_types.items() if not _same_type(data_types[n], t)]
    if differing:
        raise ValueError(f"cannot append to Delta table '{uri}': column types differ: "
                         f"{', '.join(differing)}; cast them to the table's types")


def _same_type(left, right) -> bool:
    """Equal types, ignoring nullability and field metadata (also of nested fields)."""
    return _plain(left.jsonValue()) == _plain(right.jsonValue())


def _plain(value):
    if isinstance(value, dict):
        return {k: True if k in _NULLABILITY_KEYS else _plain(v)
                for k, v in value.items() if k != "metadata"}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def commit_files(target: WriteTarget, files: Sequence[WrittenFile],
                 custom_metadata: dict) -> None:
    """Commit ``files`` to ``target`` as one Delta transaction tagged with ``custom_metadata``.

    A new table is created by this same commit. The table is loaded fresh here, so an overwrite
    removes exactly the files live when it commits.

    Raises:
        deltalake.exceptions.DeltaError: the commit failed (conflict, storage error ...).
    """
    schema = DeltaSchema.from_json(target.schema_json)
    actions = [AddAction(f.path, f.size, f.partition_values, f.modification_time, True, f.stats)
               for f in files]
    properties = CommitProperties(custom_metadata=dict(custom_metadata))
    if not target.exists and not DeltaTable.is_deltatable(target.uri):
        try:
            create_table_with_add_actions(target.uri, schema, actions, mode="error",
                                          partition_by=list(target.partition_by),
                                          configuration=dict(target.configuration) or None,
                                          commit_properties=properties)
            return
        except Exception:  # noqa: BLE001 - another writer created it meanwhile: append below
            if not DeltaTable.is_deltatable(target.uri):
                raise
    table = DeltaTable(target.uri)
    table.create_write_transaction(actions, target.mode, schema,
                                   partition_by=list(table.metadata().partition_columns),
                                   commit_properties=properties)
