"""Opening prepare's input (CSV, Parquet file or folder, Delta table) as a stream of batches.

Inputs are never loaded whole: each reader yields Arrow record batches (``batch_rows`` rows for
Parquet and Delta, blocks of about 1 MiB of text for CSV), so memory stays bounded by the batch
size, not the file size.
"""

import bz2
import gzip
import hashlib
import os
import re
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator, Optional

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.dataset as pa_ds
from mlflow.data.dataset import Dataset
from mlflow.data.meta_dataset import MetaDataset
from mlflow.data.sources import LocalArtifactDatasetSource

from mlflow_delta_plugin.datasets.dataset import DeltaVersionDataset
from mlflow_delta_plugin.datasets.source import DeltaVersionSource
from mlflow_delta_plugin.delta.table import is_delta_table, normalize_table_uri, resolve_version
from mlflow_delta_plugin.errors import InvalidInputError

__all__ = ["InputStream", "open_input"]

_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".tsv", ".txt")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_HASH_CHUNK = 1 << 20
_CSV_BLOCK_BYTES = 1 << 20
_UTF8_ERROR = re.compile(r"invalid UTF8|UTF-?8", re.IGNORECASE)
_OPENERS: dict = {".gz": gzip.open, ".bz2": bz2.open}


@dataclass
class InputStream:
    """An input opened for streaming.

    Attributes:
        kind: ``csv``, ``parquet`` or ``delta``.
        location: normalized path of the input.
        schema: Arrow schema of the batches.
        batches: a one-shot iterator of record batches.
        dataset: the MLflow dataset describing the input, for ``mlflow.log_input``.
    """

    kind: str
    location: str
    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]
    dataset: Dataset


def open_input(location: str, batch_rows: int = 65_536) -> InputStream:
    """Open ``location`` (CSV, Parquet file or folder, Delta table) for streaming.

    Raises:
        InvalidInputError: the input does not exist, is empty, or cannot be parsed.
    """
    path = normalize_table_uri(location)
    if not os.path.exists(path):
        raise InvalidInputError(
            f"input '{location}' does not exist; pass a CSV file, a Parquet file or folder, "
            "or a Delta table path"
        )
    if os.path.isdir(path):
        if is_delta_table(path):
            return _open_delta(path, batch_rows)
        if _parquet_files(path):
            return _open_parquet(path, batch_rows)
        raise InvalidInputError(
            f"input folder '{location}' holds neither a Delta table nor Parquet files"
        )
    if not os.access(path, os.R_OK):
        raise InvalidInputError(f"input '{location}' is not readable; check its permissions")
    if os.path.getsize(path) == 0:
        raise InvalidInputError(f"input '{location}' is empty (0 bytes)")
    lowered = path.lower()
    if lowered.endswith(_PARQUET_SUFFIXES):
        return _open_parquet(path, batch_rows)
    if lowered.endswith(_CSV_SUFFIXES):
        return _open_csv(path)
    raise InvalidInputError(
        f"input '{location}' has an unknown format; use a .csv, .tsv or .parquet file, "
        "a Parquet folder or a Delta table"
    )


def _parquet_files(folder: str) -> list:
    found = []
    for root, _dirs, files in os.walk(folder):
        found.extend(os.path.join(root, name) for name in files
                     if name.lower().endswith(_PARQUET_SUFFIXES))
    return sorted(found)


def _file_digest(paths: list) -> str:
    hasher = hashlib.sha256()
    for file_path in paths:
        hasher.update(os.path.basename(file_path).encode())
        with open(file_path, "rb") as handle:
            for chunk in iter(lambda: handle.read(_HASH_CHUNK), b""):
                hasher.update(chunk)
    return hasher.hexdigest()[:16]


def _file_dataset(path: str, files: list, schema: pa.Schema) -> MetaDataset:
    from mlflow_delta_plugin.datasets.schema import mlflow_schema_from_arrow

    return MetaDataset(
        source=LocalArtifactDatasetSource(path),
        name=os.path.basename(path.rstrip("/")),
        digest=_file_digest(files),
        schema=mlflow_schema_from_arrow(schema),
    )


def _open_text(path: str) -> BinaryIO:
    opener = _OPENERS.get(os.path.splitext(path)[1].lower(), open)
    return opener(path, "rb")


def _first_non_utf8(path: str) -> Optional[tuple[int, int]]:
    """Line number (from 1) and byte offset (in the uncompressed text) of the first byte of
    ``path`` that is not UTF-8, or None when the whole file decodes."""
    offset = 0
    with _open_text(path) as text:
        for number, line in enumerate(text, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return number, offset + exc.start
            offset += len(line)
    return None


def _not_utf8_error(path: str, columns: list) -> InvalidInputError:
    where = _first_non_utf8(path)
    position = f" at line {where[0]} (byte {where[1]})" if where else ""
    within = f" in columns {columns}" if columns else ""
    return InvalidInputError(
        f"input '{path}' is not valid UTF-8{position}{within}: it mixes text encodings (e.g. "
        "Latin-1 lines in a UTF-8 file); re-encode the file as UTF-8, e.g. with "
        "`iconv -f latin1 -t utf-8`, and run again"
    )


def _guarded(location: str, batches: Callable[[], Iterator[pa.RecordBatch]],
             schema: Optional[pa.Schema] = None) -> Iterator[pa.RecordBatch]:
    """Turn Arrow parse errors raised mid-stream into one-line InvalidInputErrors.

    For a CSV (``schema`` given), a text-encoding error names the first line that is not UTF-8.
    """
    try:
        yield from batches()
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as exc:
        detail = str(exc).strip().splitlines()[0]
        if schema is not None and (isinstance(exc, UnicodeDecodeError) or _UTF8_ERROR.search(detail)):
            column = re.search(r"column #(\d+)", detail)
            names = [schema.names[int(column.group(1))]] if column else []
            raise _not_utf8_error(location, names) from None
        raise InvalidInputError(
            f"input '{location}' cannot be read consistently: {detail}; fix the offending rows "
            "or give the column one type throughout"
        ) from exc


def _open_csv(path: str) -> InputStream:
    # Batches are blocks of about 1 MiB of text: larger blocks made Arrow's reader hold several
    # hundred MiB ahead of the consumer (measured by bench/bench_prepare_memory.py).
    read_options = pa_csv.ReadOptions(block_size=_CSV_BLOCK_BYTES)
    parse_options = pa_csv.ParseOptions(delimiter="\t" if path.lower().endswith(".tsv") else ",")
    try:
        reader = pa_csv.open_csv(path, read_options=read_options, parse_options=parse_options)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        detail = str(exc).strip().splitlines()[0]
        if isinstance(exc, UnicodeDecodeError) or _UTF8_ERROR.search(detail):
            raise _not_utf8_error(path, []) from None
        raise InvalidInputError(f"input '{path}' is not a readable CSV file: {detail}") from exc
    schema = reader.schema
    not_text = [f.name for f in schema if pa.types.is_binary(f.type)]
    if not_text:
        raise _not_utf8_error(path, not_text)
    return InputStream(
        kind="csv",
        location=path,
        schema=schema,
        batches=_guarded(path, lambda: iter(reader), schema),
        dataset=_file_dataset(path, [path], schema),
    )


def _open_parquet(path: str, batch_rows: int) -> InputStream:
    files = _parquet_files(path) if os.path.isdir(path) else [path]
    try:
        dataset = pa_ds.dataset(files, format="parquet")
    except (pa.ArrowInvalid, OSError) as exc:
        detail = str(exc).strip().splitlines()[0]
        raise InvalidInputError(f"input '{path}' is not readable Parquet: {detail}") from exc
    return InputStream(
        kind="parquet",
        location=path,
        schema=dataset.schema,
        batches=_guarded(path, lambda: iter(dataset.to_batches(batch_size=batch_rows))),
        dataset=_file_dataset(path, files, dataset.schema),
    )


def _open_delta(path: str, batch_rows: int) -> InputStream:
    pinned = resolve_version(path)
    dataset = DeltaVersionDataset(DeltaVersionSource.from_pinned(pinned))
    arrow_dataset = dataset.source.open().to_pyarrow_dataset()
    return InputStream(
        kind="delta",
        location=path,
        schema=arrow_dataset.schema,
        batches=_guarded(path, lambda: iter(arrow_dataset.to_batches(batch_size=batch_rows))),
        dataset=dataset,
    )
