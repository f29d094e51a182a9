"""The checks ``prepare`` applies to its input, shared by the embedded and the Spark engine.

Schema checks (:func:`table_spec`, :func:`append_target`, :func:`check_params`) run once on the
driver; :func:`prepare_batch` runs on every batch of rows, in this process (embedded) or in
Spark's Python workers, so a row gets the same verdict and the same split on either engine.
This module imports no MLflow step code, so workers load it cheaply.
"""

import logging
from typing import Optional

import pyarrow as pa
import pyarrow.compute as pc

from mlflow_delta_plugin.delta.lineage import TableSpec, find_table_spec
from mlflow_delta_plugin.delta.table import open_table
from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.ingest.split import SPLIT_COLUMN, TEST, assign_split

__all__ = ["MODES", "append_target", "check_params", "input_columns", "prepare_batch",
           "reject_stray_text", "table_spec"]

_log = logging.getLogger(__name__)
MODES = ("overwrite", "append")
_NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"


def _usable_feature(field: pa.Field) -> bool:
    kind = field.type
    return (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
            or pa.types.is_string(kind) or pa.types.is_large_string(kind)
            or pa.types.is_decimal(kind) or pa.types.is_dictionary(kind))


def check_params(mode: str, test_fraction: float) -> None:
    """Reject an unknown write mode or a test fraction outside (0, 1).

    Raises:
        InvalidInputError.
    """
    if mode not in MODES:
        raise InvalidInputError(f"mode '{mode}' is not one of {list(MODES)}")
    if not 0.0 < test_fraction < 1.0:
        raise InvalidInputError(f"test_fraction {test_fraction} is out of range; pass a number "
                                "between 0 and 1 (exclusive)")


def table_spec(schema: pa.Schema, label: str, key: Optional[str], location: str) -> TableSpec:
    """The feature-table spec for input of ``schema``: label, usable features, split column.

    Raises:
        InvalidInputError: no rows, missing label or key, a ``split`` column already there, or
            no usable feature.
    """
    names = schema.names
    if names and all(pa.types.is_null(f.type) for f in schema):
        raise InvalidInputError(f"input '{location}' has no rows")
    if not label:
        raise InvalidInputError("label is empty; pass the name of the label column (-P label=...)")
    if label not in names:
        raise InvalidInputError(
            f"label column '{label}' is not in input '{location}'; columns are {names}"
        )
    if key and key not in names:
        raise InvalidInputError(
            f"key column '{key}' is not in input '{location}'; columns are {names}")
    if SPLIT_COLUMN in names:
        raise InvalidInputError(
            f"input '{location}' already has a column named '{SPLIT_COLUMN}', which prepare "
            "writes; rename or drop it"
        )
    features = tuple(f.name for f in schema if f.name not in (label, key) and _usable_feature(f))
    dropped = [f.name for f in schema if f.name not in (label, key, *features)]
    if dropped:
        _log.warning("prepare: ignoring columns %s of unsupported types", dropped)
    if not features:
        raise InvalidInputError(
            f"input '{location}' has no usable feature column besides label '{label}'"
            + (f" and key '{key}'" if key else "")
            + "; features must be numeric, boolean or string"
        )
    return TableSpec(label=label, features=features, split_column=SPLIT_COLUMN, key=key or None)


def append_target(table: str, spec: TableSpec, schema: pa.Schema) -> pa.Schema:
    """The existing table's schema, after checking that input of ``schema`` and ``spec`` fits.

    Raises:
        InvalidInputError: the table holds another label or features, or the input lacks columns.
    """
    existing = open_table(table)
    recorded = find_table_spec(table, existing.version())
    if recorded is not None and (recorded.label, recorded.features) != (spec.label, spec.features):
        raise InvalidInputError(
            f"cannot append to '{table}': it holds label '{recorded.label}' and features "
            f"{list(recorded.features)}, the input gives label '{spec.label}' and features "
            f"{list(spec.features)}; use mode=overwrite or a new table"
        )
    target = pa.schema(existing.schema().to_arrow())
    missing = [name for name in target.names if name != SPLIT_COLUMN and name not in schema.names]
    if missing:
        raise InvalidInputError(f"cannot append to '{table}': the input lacks columns {missing}")
    return target


def input_columns(target: pa.Schema) -> list:
    """The columns read from the input to write ``target`` (all but the split column)."""
    return [name for name in target.names if name != SPLIT_COLUMN]


def reject_stray_text(batch: pa.RecordBatch, spec: TableSpec, location: str) -> None:
    """Fail on a text column whose values are mostly numbers: a stray value made it text.

    Both engines run this on the input's first non-empty batch.

    Raises:
        InvalidInputError: names the column and one offending value.
    """
    for name in (spec.label, *spec.features):
        values = batch.column(name)
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            continue
        present = pc.drop_null(values)
        numeric = pc.match_substring_regex(present, _NUMBER)
        numeric_count = pc.sum(numeric).as_py() or 0
        if len(present) and numeric_count != len(present) and numeric_count > len(present) // 2:
            stray = pc.filter(present, pc.invert(numeric))[0].as_py()
            raise InvalidInputError(
                f"column '{name}' of input '{location}' is numeric except for values like "
                f"{stray!r}; fix or blank those values so the column has one type"
            )


def prepare_batch(
    batch: pa.RecordBatch,
    spec: TableSpec,
    target: pa.Schema,
    test_fraction: float,
    seed: int,
    location: str,
    first_row: int,
    partition: Optional[int] = None,
) -> tuple:
    """Check one batch of input rows, add its split column and cast it to ``target``.

    Args:
        batch: input rows holding at least the columns of ``target`` but the split.
        spec: the table spec (label, key).
        target: schema of the written table.
        test_fraction, seed: the split's parameters.
        location: the input, for errors.
        first_row: number of the batch's first row, counted from 0, for errors.
        partition: the Spark partition the rows came from (their numbers count from its start).

    Returns:
        ``(batch, test_rows)``: the rows as written, and how many of them went to ``test``.

    Raises:
        InvalidInputError: null or NaN labels, or values that do not fit the table's types.
    """
    columns = input_columns(target)
    batch = batch.select(columns)
    labels = batch.column(spec.label)
    bad_labels = labels.null_count
    if pa.types.is_floating(labels.type):
        bad_labels += pc.sum(pc.is_nan(labels)).as_py() or 0
    if bad_labels:
        rows_text = f"rows {first_row}..{first_row + batch.num_rows - 1} of " + (
            f"Spark partition {partition} of " if partition is not None else "") + f"'{location}'"
        raise InvalidInputError(
            f"label column '{spec.label}' has {bad_labels} null or NaN values in {rows_text}; "
            "drop or fill them first"
        )
    split = assign_split(batch, test_fraction, seed, [spec.key] if spec.key else columns)
    test_rows = pc.sum(pc.equal(split, TEST)).as_py() or 0
    batch = pa.RecordBatch.from_arrays([*batch.columns, split],
                                       names=[*batch.schema.names, SPLIT_COLUMN])
    try:
        return batch.cast(target), test_rows
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise InvalidInputError(
            f"input '{location}' does not match the table's column types: "
            f"{str(exc).splitlines()[0]}; fix the input or use mode=overwrite"
        ) from exc
