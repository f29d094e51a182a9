"""Row filters in deltalake's DNF form, checked once and turned into what each engine needs.

A filter is ``[(column, op, value), ...]`` (all must hold) or a list of such lists (any of them
holds), the form :func:`mlflow_delta_plugin.delta.reader.read_version` takes. Values may be given
as strings (``("year", "=", "2024")``): they are cast to the column's type, as deltalake does.
"""

import datetime
import decimal
import json
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["OPERATORS", "Predicate", "cast_value", "columns_of", "filters_to_json",
           "parse_filters", "split_by_columns", "to_arrow_expression"]

OPERATORS = ("=", "==", "!=", "<", "<=", ">", ">=", "in", "not in")


@dataclass(frozen=True)
class Predicate:
    """One ``column op value`` term of a filter.

    Attributes:
        column: column name.
        op: one of :data:`OPERATORS` (``==`` is normalized to ``=``).
        value: a scalar, or a tuple of scalars for ``in`` / ``not in``.
    """

    column: str
    op: str
    value: Any


Conjunction = tuple  # tuple[Predicate, ...]: all must hold
Disjunction = tuple  # tuple[Conjunction, ...]: any of them holds


def parse_filters(filters: Optional[Sequence], columns: Sequence[str]) -> Disjunction:
    """Check ``filters`` against the table's ``columns`` and return them in DNF.

    Raises:
        ValueError: a malformed term, an unknown operator or an unknown column (one line).
    """
    if not filters:
        return ()
    terms = list(filters)
    if all(_is_term(term) for term in terms):
        groups = [terms]
    elif all(isinstance(group, (list, tuple)) and group and all(_is_term(t) for t in group)
             for group in terms):
        groups = terms
    else:
        raise ValueError(
            f"filters {filters!r} are not in DNF form: pass [(column, op, value), ...] "
            "or a list of such lists"
        )
    known = set(columns)
    parsed = []
    for group in groups:
        conjunction = []
        for column, op, value in group:
            op = str(op).lower().strip()
            if op not in OPERATORS:
                raise ValueError(f"filter operator '{op}' is not one of {list(OPERATORS)}")
            if column not in known:
                raise ValueError(f"filter column '{column}' is not in the table; columns are "
                                 f"{list(columns)}")
            if op in ("in", "not in"):
                if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, set)):
                    raise ValueError(
                        f"filter '{column} {op}' needs a list of values, got {value!r}")
                value = tuple(value)
            conjunction.append(Predicate(column, "=" if op == "==" else op, value))
        parsed.append(tuple(conjunction))
    return tuple(parsed)


def _is_term(term: Any) -> bool:
    return isinstance(term, (list, tuple)) and len(term) == 3 and isinstance(term[0], str)


def columns_of(filters: Disjunction) -> set:
    """Names of the columns ``filters`` refer to."""
    return {p.column for group in filters for p in group}


def split_by_columns(filters: Disjunction, columns: Sequence[str]) -> tuple:
    """``(on_columns, rest)``: the filter restricted to ``columns`` (a necessary condition) and
    whether anything outside ``columns`` remains to be checked row by row.

    For a single conjunction the part on ``columns`` is exact; for a disjunction a group that
    also names other columns makes the restriction drop that group's other terms, which keeps
    it a necessary condition, so pruning with it never loses a row.
    """
    wanted = set(columns)
    restricted = []
    for group in filters:
        kept = tuple(p for p in group if p.column in wanted)
        if not kept:  # this alternative puts no condition on ``columns``: nothing can be pruned
            return (), bool(filters)
        restricted.append(kept)
    rest = any(p.column not in wanted for group in filters for p in group)
    return tuple(restricted), rest


def to_arrow_expression(filters: Disjunction, schema: pa.Schema,
                        field_names: Optional[dict] = None) -> Optional[pc.Expression]:
    """A pyarrow expression for ``filters`` over ``schema`` (values cast to column types).

    ``field_names`` maps a column to the field the expression should read (for example
    ``partition.split`` in deltalake's flattened add actions).

    Raises:
        ValueError: a value cannot be cast to its column's type.
    """
    if not filters:
        return None
    field_names = field_names or {}
    alternatives = []
    for group in filters:
        terms = []
        for predicate in group:
            name = field_names.get(predicate.column, predicate.column)
            terms.append(_arrow_term(pc.field(name), predicate, schema.field(name).type))
        alternatives.append(_combine(terms, "and"))
    return _combine(alternatives, "or")


def _combine(expressions: list, how: str) -> pc.Expression:
    result = expressions[0]
    for expression in expressions[1:]:
        result = (result & expression) if how == "and" else (result | expression)
    return result


def _arrow_term(field: pc.Expression, predicate: Predicate, kind: pa.DataType) -> pc.Expression:
    """One term, with the null semantics of ``pyarrow.parquet.filters_to_expression`` (what
    deltalake applies), except that ``= None`` / ``!= None`` test for null."""
    if predicate.op in ("in", "not in"):
        values = pa.array([cast_value(v, kind, predicate.column) for v in predicate.value],
                          type=kind)
        contained = field.isin(values)
        return contained if predicate.op == "in" else ~contained
    if predicate.value is None:
        if predicate.op not in ("=", "!="):
            raise ValueError(f"filter '{predicate.column} {predicate.op} None' compares with null")
        return field.is_null() if predicate.op == "=" else field.is_valid()
    value = pa.scalar(cast_value(predicate.value, kind, predicate.column), type=kind)
    return {"=": field == value, "!=": field != value, "<": field < value,
            "<=": field <= value, ">": field > value, ">=": field >= value}[predicate.op]


def cast_value(value: Any, kind: pa.DataType, column: str) -> Any:
    """``value`` as a Python object of ``kind`` (strings are parsed, as deltalake does)."""
    if value is None:
        return None
    try:
        return pa.scalar(value).cast(kind).as_py()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise ValueError(f"filter value {value!r} does not fit column '{column}' of type {kind}: "
                         f"{str(exc).splitlines()[0]}") from None


def filters_to_json(filters: Disjunction) -> str:
    """JSON text of parsed filters (DNF groups), to pass them through Spark's string options;
    :func:`parse_filters` reads it back."""
    return json.dumps([[[p.column, p.op, _jsonable(p.value)] for p in group] for group in filters])


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        raise ValueError("binary filter values are not supported")
    return value
