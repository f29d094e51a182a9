"""Schemas between Delta, Spark and Arrow.

Delta stores its schema as Spark's own ``StructType`` JSON, so the conversions go through that
JSON and keep every type, nullability and field metadata as the log has them.
"""

import json
from typing import Optional, Sequence

import pyarrow as pa
from deltalake import Schema as DeltaSchema
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import StructType

__all__ = ["COLUMN_MAPPING_MODE_KEY", "PHYSICAL_NAME_KEY", "as_nullable", "delta_to_spark",
           "physical_names", "project", "spark_arrow_schema", "spark_to_delta"]

COLUMN_MAPPING_MODE_KEY = "delta.columnMapping.mode"
PHYSICAL_NAME_KEY = "delta.columnMapping.physicalName"


def delta_to_spark(schema: DeltaSchema) -> StructType:
    """The Spark schema of a Delta schema (types, nullability and metadata as in the log)."""
    return StructType.fromJson(json.loads(schema.to_json()))


def as_nullable(schema: StructType) -> StructType:
    """``schema`` with every field (nested ones too) nullable, as Spark's file sources and Delta
    Lake on Spark present what they read, whichever path read it."""
    return StructType.fromJson(_nullable(schema.jsonValue()))


def _nullable(value):
    if isinstance(value, dict):
        return {k: True if k in ("nullable", "containsNull", "valueContainsNull") else _nullable(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_nullable(v) for v in value]
    return value


def spark_to_delta(schema: StructType) -> DeltaSchema:
    """The Delta schema of a Spark schema.

    Raises:
        ValueError: a Spark type Delta cannot store (one line).
    """
    try:
        return DeltaSchema.from_json(schema.json())
    except Exception as exc:  # deltalake raises its own error types
        raise ValueError(f"Spark schema {schema.simpleString()} cannot be a Delta schema: "
                         f"{str(exc).splitlines()[0]}") from None


def spark_arrow_schema(schema: StructType) -> pa.Schema:
    """The Arrow schema Spark expects from a Python data source returning ``schema``."""
    return to_arrow_schema(schema, timezone="UTC")


def project(schema: StructType, columns: Optional[Sequence[str]]) -> StructType:
    """``schema`` narrowed to ``columns`` (in the given order); all of it when None.

    Raises:
        ValueError: a column is not in ``schema``.
    """
    if columns is None:
        return schema
    names = schema.fieldNames()
    missing = [c for c in columns if c not in names]
    if missing:
        raise ValueError(f"columns {missing} are not in the table; columns are {names}")
    if len(set(columns)) != len(columns):
        raise ValueError(f"columns {list(columns)} name a column twice")
    return StructType([schema[c] for c in columns])


def physical_names(schema: StructType, mapping_mode: Optional[str]) -> dict:
    """Top-level column -> the name its data has in the Parquet files.

    Without column mapping these are the same. With ``delta.columnMapping.mode`` ``name`` or
    ``id`` the files use ``delta.columnMapping.physicalName``.

    Raises:
        ValueError: column mapping renames fields nested in a struct (not supported here).
    """
    mapped = (mapping_mode or "none").lower() != "none"
    names = {}
    for field in schema.fields:
        physical = field.metadata.get(PHYSICAL_NAME_KEY) if mapped else None
        names[field.name] = physical or field.name
        if mapped and _has_renamed_nested_field(field.dataType):
            raise ValueError(f"column '{field.name}' has nested fields renamed by column mapping, "
                             "which the Spark Python data source does not read; use native Delta")
    return names


def _has_renamed_nested_field(kind) -> bool:
    from pyspark.sql.types import ArrayType, MapType

    if isinstance(kind, StructType):
        return any(f.metadata.get(PHYSICAL_NAME_KEY, f.name) != f.name
                   or _has_renamed_nested_field(f.dataType) for f in kind.fields)
    if isinstance(kind, ArrayType):
        return _has_renamed_nested_field(kind.elementType)
    if isinstance(kind, MapType):
        return _has_renamed_nested_field(kind.keyType) or _has_renamed_nested_field(kind.valueType)
    return False
