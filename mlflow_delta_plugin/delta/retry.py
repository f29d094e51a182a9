"""Retrying a Delta write whose commit lost a race with another writer.

delta-rs already retries a commit whose version number was taken by a concurrent *blind append*
(up to 15 times, inside one call). It gives up at once when the winning commit logically
conflicts with the transaction: an overwrite or delete removed files this write read, the
metadata or protocol changed, or the table was created by someone else meanwhile. Such a write
must be redone from the start against the new snapshot, which is what :func:`retry_on_conflict`
does with a callable performing one full attempt (open the input, stream it, commit).

Example:
    >>> version = retry_on_conflict(lambda: write_once(path), table=path,
    ...                             what="prepare")  # doctest: +SKIP
"""

import logging
import random
import re
import time
from typing import Callable, TypeVar

from deltalake.exceptions import CommitFailedError, DeltaError

from mlflow_delta_plugin.delta.table import _first_line, explain_table_error
from mlflow_delta_plugin.errors import WriteConflictError

__all__ = ["is_commit_conflict", "retry_on_conflict"]

T = TypeVar("T")
_log = logging.getLogger(__name__)

# Messages of delta-rs's TransactionError::CommitConflict variants (conflict_checker.rs) and of
# MaxCommitAttempts, both prefixed "Failed to commit transaction: ". Other CommitFailedErrors
# (unsupported writer features, append-only tables, a corrupt snapshot) are not worth retrying.
_CONFLICT = re.compile(
    r"Failed to commit transaction: (Commit failed: a concurrent transaction"
    r"|Metadata changed since last commit|Concurrent transaction failed"
    r"|Protocol changed since last commit|\d+\s*$)"
)
# DeltaTableError::VersionAlreadyExists, raised when delta-rs's own retries are switched off.
_VERSION_TAKEN = re.compile(r"version \d+ already exists|Tried committing existing table version")


def is_commit_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` is delta-rs reporting that a concurrent commit won the race."""
    text = str(exc)
    if isinstance(exc, CommitFailedError):
        return bool(_CONFLICT.search(text))
    return isinstance(exc, DeltaError) and bool(_VERSION_TAKEN.search(text))


def retry_on_conflict(
    attempt: Callable[[], T],
    *,
    table: str,
    what: str,
    attempts: int = 5,
    base_delay: float = 0.5,
    max_delay: float = 8.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``attempt`` until it commits, redoing it after each commit conflict.

    ``attempt`` must do one whole write from scratch (re-open its input, load the table's
    current snapshot, commit) and be safe to repeat: a conflicting attempt committed nothing.
    Between attempts it waits a jittered exponential delay (half to all of
    ``min(max_delay, base_delay * 2**n)`` seconds) and logs one line.

    Args:
        attempt: performs one full write and returns its result.
        table: the table written, named in log lines and errors.
        what: the writer, e.g. ``"prepare"``, named in log lines and errors.
        attempts: total number of attempts, at least 1.
        base_delay: seconds before the second attempt (before jitter).
        max_delay: cap on any single delay, in seconds.
        sleep: how to wait (tests pass a recorder).

    Returns:
        What the first successful attempt returned.

    Raises:
        WriteConflictError: every attempt conflicted; nothing was committed.
        UnsupportedTableError: the table's protocol refuses this writer (not retried).
        Anything else ``attempt`` raises, unchanged.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    number = 0
    while True:
        number += 1
        try:
            return attempt()
        except DeltaError as exc:  # CommitFailedError is one
            if not is_commit_conflict(exc):
                explained = explain_table_error(table, exc)
                if explained is not None:
                    raise explained from None
                raise
            if number == attempts:
                raise WriteConflictError(
                    f"{what} could not commit to Delta table '{table}': all {attempts} attempts "
                    f"conflicted with concurrent writers (last: {_first_line(exc)}); nothing was "
                    "written, run it again once the other writers to this table have finished"
                ) from None
            ceiling = min(max_delay, base_delay * 2 ** (number - 1))
            delay = ceiling / 2 + random.uniform(0, ceiling / 2)
            _log.warning("%s: commit to '%s' conflicted with a concurrent writer (%s); "
                         "retrying in %.1f s (attempt %d of %d)", what, table, _first_line(exc),
                         delay, number + 1, attempts)
            sleep(delay)
