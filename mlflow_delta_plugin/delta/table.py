"""Opening Delta tables and pinning an exact version of them.

Everything here reads only the Delta log: no data file is opened.

Cost model (delta-rs 1.6, measured by ``bench/bench_dataset_logging.py``): loading a snapshot
reads the last checkpoint plus every JSON commit after it, about 1 ms per JSON commit, so the
functions here load each table at most once and never walk the history when a commit file can be
read directly.
"""

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Optional, Union
from urllib.parse import urlparse

import deltalake
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError
from deltalake.exceptions import TableNotFoundError as _DeltaTableNotFound

from mlflow_delta_plugin.errors import (
    TableNotFoundError,
    UnsupportedTableError,
    VersionNotFoundError,
)

__all__ = [
    "PinnedVersion",
    "commit_info",
    "explain_table_error",
    "is_delta_table",
    "normalize_table_uri",
    "open_table",
    "pin_and_open",
    "resolve_version",
]

_READER_REFUSALS = ("Unsupported: Feature", "Unsupported reader features",
                    "does not support reader version", "Reader features must be specified")
_WRITER_REFUSALS = ("Unsupported table features", "Unsupported writer features",
                    "does not support writer version", "Writer features must be specified")
_FEATURE_NAME = re.compile(r"""Feature '([^']+)'|Unknown\("([^"]+)"\)|\b([A-Z][A-Za-z]+)\b(?=[,\]])""")
_REMOTE_SCHEMES = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "wasb", "wasbs", "dbfs",
                   "hdfs", "r2", "memory", "lakefs"}


def normalize_table_uri(uri: Union[str, os.PathLike]) -> str:
    """Return a canonical form of a table location: absolute path for local tables.

    ``file://`` URIs and relative paths become absolute local paths; object-store URIs
    (``s3://``, ``abfss://``, ``dbfs:/`` ...) are kept as given, minus a trailing slash.

    Example:
        >>> normalize_table_uri("file:///tmp/t/")
        '/tmp/t'
    """
    text = os.fspath(uri).strip()
    if not text:
        raise TableNotFoundError("table URI is empty; pass a path or URI of a Delta table")
    parsed = urlparse(text)
    if parsed.scheme.lower() in _REMOTE_SCHEMES:
        return text.rstrip("/")
    if parsed.scheme.lower() == "file":
        text = parsed.path
    return os.path.normpath(os.path.abspath(os.path.expanduser(text)))


def is_delta_table(uri: str) -> bool:
    """Whether ``uri`` holds a Delta table (a ``_delta_log`` with at least one commit)."""
    return DeltaTable.is_deltatable(normalize_table_uri(uri))


def _first_line(exc: BaseException) -> str:
    """An exception's message without delta-rs's appended Rust backtrace."""
    lines = str(exc).strip().splitlines()
    return lines[0].strip() if lines else type(exc).__name__


def _feature_names(message: str) -> str:
    names = {next(g for g in match.groups() if g) for match in _FEATURE_NAME.finditer(message)}
    return ", ".join(sorted(names)) or message


def _corrupt_log_file(location: str) -> Optional[tuple[str, str]]:
    """The first file of a local table's ``_delta_log`` that is not valid JSON lines, with the
    parse error; None when every file parses or the table is not local."""
    log = os.path.join(location, "_delta_log")
    if not os.path.isabs(location) or not os.path.isdir(log):
        return None
    names = sorted(n for n in os.listdir(log) if n.endswith(".json") or n == "_last_checkpoint")
    for name in names:
        try:
            with open(os.path.join(log, name), "rb") as entry:
                for number, line in enumerate(entry, start=1):
                    if line.strip():
                        json.loads(line)
        except ValueError as exc:
            return name, f"line {number}: {_first_line(exc)}"
        except OSError:
            continue
    return None


def explain_table_error(location: str, exc: BaseException) -> Optional[UnsupportedTableError]:
    """A one-line error for a deltalake failure caused by the table itself, or None.

    Covers a corrupt (for example truncated) log entry and protocols that need reader or writer
    features this deltalake does not implement; anything else (a commit conflict, a missing
    version, an I/O error) returns None so the caller handles it.
    """
    message = _first_line(exc)
    engine = f"deltalake {deltalake.__version__}"
    if any(marker in message for marker in _READER_REFUSALS):
        return UnsupportedTableError(
            f"Delta table '{location}' needs reader features ({_feature_names(message)}) that "
            f"{engine} cannot read; read it with an engine that supports them (e.g. Databricks "
            "Runtime) or copy its data into a table without them"
        )
    if any(marker in message for marker in _WRITER_REFUSALS):
        return UnsupportedTableError(
            f"Delta table '{location}' needs writer features ({_feature_names(message)}) that "
            f"{engine} cannot write; write to it with an engine that supports them, or prepare "
            "into a new table"
        )
    corrupt = _corrupt_log_file(location)
    if corrupt is not None:
        name, detail = corrupt
        return UnsupportedTableError(
            f"Delta table '{location}' has a corrupt log entry _delta_log/{name} ({detail}); "
            "restore that file from a backup, or if it is the newest commit and its data may be "
            "dropped, move it out of _delta_log to return the table to the previous version"
        )
    return None


def _load(location: str, version: Optional[int] = None) -> DeltaTable:
    """``DeltaTable(location, version)`` with table-caused failures as one-line errors."""
    try:
        return DeltaTable(location, version=version)
    except _DeltaTableNotFound as exc:
        raise TableNotFoundError(f"no Delta table at '{location}': {_first_line(exc)}") from exc
    except DeltaError as exc:
        explained = explain_table_error(location, exc) or UnsupportedTableError(
            f"Delta table '{location}' cannot be loaded by deltalake {deltalake.__version__}: "
            f"{_first_line(exc)}; check that its _delta_log is intact and was written by a "
            "compatible Delta writer"
        )
        raise explained from None


def open_table(uri: str, version: Optional[int] = None) -> DeltaTable:
    """Open the Delta table at ``uri``, at ``version`` or the latest one.

    Raises:
        TableNotFoundError: nothing at ``uri`` is a Delta table.
        VersionNotFoundError: the table has no such version.
        UnsupportedTableError: the log is corrupt or needs features deltalake cannot read.
    """
    location = normalize_table_uri(uri)
    if version is None or version >= 0:
        # The common case costs one snapshot load: no is_deltatable probe, and a pinned version
        # is loaded directly instead of loading the latest one first. Any failure is diagnosed
        # by the slow path below, which words the error.
        try:
            return DeltaTable(location, version=version)
        except Exception:  # noqa: BLE001 - re-diagnosed below
            pass
    if not DeltaTable.is_deltatable(location):
        raise TableNotFoundError(
            f"no Delta table at '{location}' (no _delta_log with commits there); "
            "run the prepare entry point first or pass the path of an existing Delta table"
        )
    table = _load(location)
    if version is None:
        return table
    latest = table.version()
    if version < 0 or version > latest:
        raise VersionNotFoundError(
            f"Delta table '{location}' has no version {version} (versions 0..{latest} exist); "
            "pass an existing version or 'latest'"
        )
    try:
        table.load_as_version(version)
    except Exception as exc:  # the log entry was vacuumed / cleaned up, or is unreadable
        explained = explain_table_error(location, exc)
        if explained is not None:
            raise explained from None
        raise VersionNotFoundError(
            f"Delta table '{location}' cannot load version {version}: {exc}; "
            "it may have been removed by log retention, pin a newer version"
        ) from exc
    return table


@dataclass(frozen=True)
class PinnedVersion:
    """An exact version of a Delta table, as recorded in a run.

    Attributes:
        uri: normalized table location.
        version: the Delta version number (0 is a real version).
        timestamp_ms: commit time of that version, milliseconds since the epoch (UTC).
        table_id: the Delta table id (``metaData.id``); changes when a table is re-created.
    """

    uri: str
    version: int
    timestamp_ms: int
    table_id: str

    @property
    def timestamp_iso(self) -> str:
        """The commit time as an RFC 3339 string in UTC."""
        moment = datetime.fromtimestamp(self.timestamp_ms / 1000, tz=timezone.utc)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _local_commit_info(location: str, version: int,
                       require_timestamp: bool = True) -> Optional[dict[str, Any]]:
    """The ``commitInfo`` of ``version`` read straight from its JSON commit file (plus a
    ``version`` key, like ``history()`` entries), for local tables; None when the table is
    remote, the file or its commitInfo is missing, or (``require_timestamp``) it has no
    timestamp. Callers fall back to ``history()`` on None."""
    if version < 0 or urlparse(location).scheme.lower() in _REMOTE_SCHEMES \
            or not os.path.isabs(location):
        return None
    path = os.path.join(location, "_delta_log", f"{version:020d}.json")
    try:
        with open(path, "rb") as commit:
            for line in commit:
                if b'"commitInfo"' not in line:
                    continue
                info = json.loads(line).get("commitInfo")
                if isinstance(info, dict) and (not require_timestamp or "timestamp" in info):
                    return {**info, "version": version}
    except (OSError, ValueError):
        return None
    return None


def commit_info(uri: str, version: int) -> dict[str, Any]:
    """The ``commitInfo`` of ``version`` of the table at ``uri`` (timestamp, operation, metadata).

    Local tables: read from the version's own commit file (constant time). Elsewhere, or when that
    file was cleaned up: delta-rs's ``history()`` reads the newest commits from storage but labels
    them counting down from the version the table object was loaded at (so a table loaded at an
    older version, or one that moved on since it was loaded, reports wrong numbers), so this
    loads the latest version and reads the commits from there down to ``version``: cheap for
    recent pins, proportional to the distance for old ones.

    Raises:
        TableNotFoundError, VersionNotFoundError.
    """
    entry = _local_commit_info(normalize_table_uri(uri), version)
    if entry is not None:
        return entry
    latest_table = open_table(uri)
    latest = latest_table.version()
    if version < 0 or version > latest:
        raise VersionNotFoundError(
            f"Delta table '{latest_table.table_uri}' has no version {version} "
            f"(versions 0..{latest} exist); pass an existing version or 'latest'"
        )
    for entry in latest_table.history(limit=latest - version + 1):
        if entry.get("version") == version:
            return entry
    raise VersionNotFoundError(
        f"Delta table '{latest_table.table_uri}' has no commit info for version {version}; "
        "its log may have been cleaned up, pin a newer version"
    )


def _parse_timestamp(timestamp: Union[str, int, float, datetime]) -> int:
    """Milliseconds since the epoch for an RFC 3339 string, a datetime or epoch seconds."""
    if isinstance(timestamp, datetime):
        moment = timestamp
    elif isinstance(timestamp, (int, float)):
        return int(timestamp * 1000)
    else:
        try:
            moment = datetime.fromisoformat(str(timestamp).strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise VersionNotFoundError(
                f"timestamp '{timestamp}' is not an RFC 3339 date-time (e.g. 2026-01-31T12:00:00Z)"
            ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def resolve_version(
    uri: str,
    version: Optional[int] = None,
    timestamp: Union[str, int, float, datetime, None] = None,
) -> PinnedVersion:
    """Pin a table version: an explicit number, the version current at ``timestamp``, or latest.

    A naive timestamp is taken as UTC. A timestamp before the table's first commit is an error
    (delta-rs would silently return version 0).

    Raises:
        TableNotFoundError, VersionNotFoundError.
    """
    return pin_and_open(uri, version=version, timestamp=timestamp)[0]


def pin_and_open(
    uri: str,
    version: Optional[int] = None,
    timestamp: Union[str, int, float, datetime, None] = None,
) -> tuple[PinnedVersion, DeltaTable]:
    """:func:`resolve_version`, also returning the table loaded at the pinned version.

    The table is loaded once (its number, id and files come from that one snapshot); callers
    that go on to read the version reuse it instead of loading it again.

    Raises:
        TableNotFoundError, VersionNotFoundError, UnsupportedTableError.
    """
    if version is not None and timestamp is not None:
        raise VersionNotFoundError("pass either a version or a timestamp, not both")
    if timestamp is not None:
        version = _version_at(uri, _parse_timestamp(timestamp), timestamp)
    table = open_table(uri, version)
    pinned_number = table.version()
    entry = commit_info(uri, pinned_number)
    pinned = PinnedVersion(
        uri=normalize_table_uri(uri),
        version=int(pinned_number),
        timestamp_ms=int(entry["timestamp"]),
        table_id=table.metadata().id,
    )
    return pinned, table


def _version_at(uri: str, wanted_ms: int, given: object) -> int:
    """The newest version committed at or before ``wanted_ms``."""
    table = open_table(uri)
    for entry in table.history():  # newest first
        if entry["timestamp"] <= wanted_ms:
            return int(entry["version"])
    raise VersionNotFoundError(
        f"Delta table '{table.table_uri}' did not exist at {given}: its first commit is later; "
        "pass a later timestamp or an explicit version"
    )
