"""Finding and removing data files that no version of a Delta table references.

A writer killed between writing its Parquet files and committing them (power loss, OOM kill,
``kill -9``) leaves those files in the table folder. No version of the table lists them, so
readers never see them; they only take space. This module removes exactly those files:

- a file counts as referenced when *any* commit or checkpoint still in ``_delta_log`` names it
  (``add``, ``remove`` or ``cdc``), so every version a run pinned keeps all of its files, even
  after a later overwrite removed them from the latest version;
- only ``.parquet`` files outside ``_delta_log`` and outside folders starting with ``_`` or
  ``.`` are candidates (deletion vectors and change data are never touched);
- a file younger than ``older_than_minutes`` is kept: it may belong to a writer still running.

``DeltaTable.vacuum`` is not a substitute: it also deletes files that older versions need
(removed by an overwrite longer ago than the retention), and records two commits of its own.

Command line (local tables)::

    python -m mlflow_delta_plugin.delta.orphans data/features --dry-run
    python -m mlflow_delta_plugin.delta.orphans data/features --older-than-minutes 60
"""

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Sequence
from urllib.parse import unquote, urlparse

import pyarrow.parquet as pq

from mlflow_delta_plugin.delta.table import explain_table_error, is_delta_table, normalize_table_uri
from mlflow_delta_plugin.errors import DeltaPluginError, InvalidInputError, TableNotFoundError

__all__ = ["OrphanFile", "find_orphans", "main", "referenced_files", "remove_orphans"]

DEFAULT_OLDER_THAN_MINUTES = 24 * 60
_FILE_ACTIONS = ("add", "remove", "cdc")


@dataclass(frozen=True)
class OrphanFile:
    """A data file in the table folder that no version in the log references.

    Attributes:
        path: absolute local path.
        size_bytes: file size.
        age_minutes: minutes since the file was last modified.
    """

    path: str
    size_bytes: int
    age_minutes: float


def _local_table(uri: str) -> str:
    location = normalize_table_uri(uri)
    if not os.path.isabs(location):
        raise InvalidInputError(
            f"'{uri}' is not a local table; orphan cleanup lists files directly and only "
            "supports local paths"
        )
    if not is_delta_table(location):
        raise TableNotFoundError(f"no Delta table at '{location}' (no _delta_log with commits)")
    return location


def _absolute(location: str, path: str) -> str:
    """The local path of a file named in the log (relative and percent-encoded, or a URI)."""
    parsed = urlparse(path)
    if parsed.scheme == "file":
        return os.path.normpath(unquote(parsed.path))
    if parsed.scheme:
        return path  # elsewhere (a shallow clone's source): never in this folder
    return os.path.normpath(os.path.join(location, unquote(path)))


def _json_paths(commit: str) -> Iterator[str]:
    with open(commit, "rb") as entries:
        for line in entries:
            if not line.strip():
                continue
            action = json.loads(line)
            for kind in _FILE_ACTIONS:
                if isinstance(action.get(kind), dict) and action[kind].get("path"):
                    yield action[kind]["path"]


def _parquet_paths(checkpoint: str) -> Iterator[str]:
    present = [kind for kind in _FILE_ACTIONS if kind in pq.read_schema(checkpoint).names]
    if not present:
        return
    rows = pq.read_table(checkpoint, columns=present)
    for kind in present:
        for entry in rows.column(kind).to_pylist():
            if entry and entry.get("path"):
                yield entry["path"]


def referenced_files(uri: str) -> set[str]:
    """Absolute paths of every file that any commit or checkpoint in the log references.

    Raises:
        UnsupportedTableError: a log entry cannot be parsed; nothing can be called an orphan.
    """
    location = _local_table(uri)
    log = os.path.join(location, "_delta_log")
    referenced: set[str] = set()
    for root, _dirs, names in os.walk(log):
        for name in sorted(names):
            entry = os.path.join(root, name)
            try:
                if name.endswith(".json") and name != "_last_checkpoint":
                    paths: Iterable[str] = _json_paths(entry)
                elif name.endswith(".parquet"):
                    paths = _parquet_paths(entry)
                else:
                    continue
                referenced.update(_absolute(location, path) for path in paths)
            except (ValueError, OSError) as exc:
                explained = explain_table_error(location, exc)
                raise (explained or InvalidInputError(
                    f"cannot read log entry '{entry}' of '{location}': {exc}; no file was removed"
                )) from None
    return referenced


def _data_files(location: str) -> Iterator[str]:
    for root, dirs, names in os.walk(location):
        dirs[:] = [d for d in dirs if not d.startswith(("_", "."))]
        for name in names:
            if name.endswith(".parquet") and not name.startswith(("_", ".")):
                yield os.path.join(root, name)


def find_orphans(uri: str, older_than_minutes: float = DEFAULT_OLDER_THAN_MINUTES,
                 now: Optional[float] = None) -> list[OrphanFile]:
    """Data files of the local table at ``uri`` that no log entry references and that are at
    least ``older_than_minutes`` old, sorted by path.

    Files are listed before the log is read, so a commit landing in between protects its files.
    """
    if older_than_minutes < 0:
        raise InvalidInputError(f"older_than_minutes must be >= 0, got {older_than_minutes}")
    location = _local_table(uri)
    moment = time.time() if now is None else now
    listed = []
    for path in _data_files(location):
        try:
            status = os.stat(path)
        except FileNotFoundError:
            continue
        listed.append(OrphanFile(path, status.st_size, (moment - status.st_mtime) / 60))
    referenced = referenced_files(location)
    return sorted((f for f in listed
                   if f.path not in referenced and f.age_minutes >= older_than_minutes),
                  key=lambda f: f.path)


def remove_orphans(uri: str, older_than_minutes: float = DEFAULT_OLDER_THAN_MINUTES,
                   dry_run: bool = False) -> list[OrphanFile]:
    """Delete (unless ``dry_run``) what :func:`find_orphans` finds; returns those files."""
    orphans = find_orphans(uri, older_than_minutes)
    if not dry_run:
        for orphan in orphans:
            try:
                os.remove(orphan.path)
            except FileNotFoundError:
                pass
    return orphans


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m mlflow_delta_plugin.delta.orphans TABLE [--dry-run] [--older-than-minutes N]``."""
    parser = argparse.ArgumentParser(
        prog="python -m mlflow_delta_plugin.delta.orphans",
        description="Remove data files of a local Delta table that no version references "
                    "(left by writers killed before their commit).")
    parser.add_argument("table", help="path of the Delta table")
    parser.add_argument("--dry-run", action="store_true", help="list the files, delete nothing")
    parser.add_argument("--older-than-minutes", type=float, default=DEFAULT_OLDER_THAN_MINUTES,
                        help="keep files younger than this; a writer may still be running "
                             f"(default {DEFAULT_OLDER_THAN_MINUTES})")
    args = parser.parse_args(argv)
    try:
        orphans = remove_orphans(args.table, args.older_than_minutes, args.dry_run)
    except DeltaPluginError as exc:
        print(f"error: orphans: {' '.join(str(exc.message).split())}", file=sys.stderr)
        return 2
    verb = "would remove" if args.dry_run else "removed"
    for orphan in orphans:
        print(f"{verb} {orphan.path} ({orphan.size_bytes} bytes, {orphan.age_minutes:.0f} min old)")
    total = sum(o.size_bytes for o in orphans)
    print(f"{verb} {len(orphans)} orphaned files, {total} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
