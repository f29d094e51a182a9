"""Mapping a Delta (Arrow) schema to an MLflow ``Schema`` without reading data."""

import pyarrow as pa
from mlflow.types import ColSpec, DataType, Schema

__all__ = ["mlflow_schema_from_arrow"]


def _mlflow_type(arrow_type: pa.DataType) -> DataType:
    if pa.types.is_boolean(arrow_type):
        return DataType.boolean
    if pa.types.is_integer(arrow_type):
        return DataType.long if arrow_type.bit_width > 32 else DataType.integer
    if pa.types.is_float32(arrow_type):
        return DataType.float
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return DataType.double
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return DataType.string
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        return DataType.binary
    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        return DataType.datetime
    return DataType.string  # nested and exotic types: described, not typed


def mlflow_schema_from_arrow(schema: pa.Schema) -> Schema:
    """An MLflow column-based schema for ``schema``; nullable columns are optional.

    Example:
        >>> mlflow_schema_from_arrow(pa.schema([("x", pa.float64())])).input_names()
        ['x']
    """
    return Schema([
        ColSpec(_mlflow_type(field.type), field.name, required=not field.nullable)
        for field in schema
    ])
