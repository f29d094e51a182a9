"""Moving the champion/challenger aliases of a registered model (never stages).

A promotion writes, in this order:

1. the registered-model tag ``promotion.pending`` (the aliases as they were, and the candidate);
2. ``challenger`` -> candidate, ``previous_champion`` -> the old champion,
   ``champion`` -> candidate (each alias write is atomic: at every moment at most one version
   is ``champion``);
3. the decision record on the candidate (a callback of the caller);
4. removes ``challenger``, then the ``pending`` tag. Removing the tag commits the promotion.

A registry error anywhere in 2-4 puts the aliases back as they were (``champion`` first, each
write retried) and raises :class:`~mlflow_delta_plugin.errors.PromotionInterruptedError`. When
putting them back fails too (the registry is down), or the process dies, the ``pending`` tag
stays; the next promotion of the model (under its lease) puts the aliases back from it with
:func:`repair_interrupted` before it reads the champion, so a retry completes. A version whose
record was written by an interrupted attempt is not champion afterwards; the retry rewrites its
record (the description history line is the record's last write).
"""

import json
import logging
import time
from dataclasses import asdict, dataclass
from typing import Callable, Optional

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode

from mlflow_delta_plugin.errors import ConcurrentPromotionError, PromotionInterruptedError

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "PENDING_TAG",
    "PREVIOUS_CHAMPION",
    "AliasState",
    "move_champion",
    "promotion_pending",
    "read_aliases",
    "repair_interrupted",
]

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous_champion"
PENDING_TAG = "promotion.pending"
"""Registered-model tag present while a promotion's alias moves are not committed."""

_MANAGED = (CHAMPION, CHALLENGER, PREVIOUS_CHAMPION)  # restore order: champion first
_RESTORE_ATTEMPTS = 3
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AliasState:
    """Which version (as a string) holds each promotion alias; None when unset."""

    champion: Optional[str]
    challenger: Optional[str]
    previous_champion: Optional[str]


def read_aliases(client: MlflowClient, name: str) -> AliasState:
    """The current promotion aliases of registered model ``name``."""
    aliases = client.get_registered_model(name).aliases or {}

    def version(alias: str) -> Optional[str]:
        value = aliases.get(alias)
        return str(value) if value is not None else None

    return AliasState(*(version(alias) for alias in _MANAGED))


def _apply(client: MlflowClient, name: str, alias: str, version: Optional[str]) -> None:
    """Point ``alias`` at ``version``; None deletes it (deleting an unset alias is a no-op)."""
    if version is None:
        try:
            client.delete_registered_model_alias(name, alias)
        except MlflowException as exc:  # some registries refuse to delete an unset alias
            if exc.error_code != ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
                raise
    else:
        client.set_registered_model_alias(name, alias, version)


def _restore(client: MlflowClient, name: str, before: AliasState) -> None:
    """Put the aliases back to ``before``, champion first; each write is tried a few times.

    Raises:
        MlflowException: a write failed on every attempt (later aliases are not tried).
    """
    for alias in _MANAGED:
        for attempt in range(1, _RESTORE_ATTEMPTS + 1):
            try:
                _apply(client, name, alias, getattr(before, alias))
                break
            except MlflowException:
                if attempt == _RESTORE_ATTEMPTS:
                    raise
                time.sleep(0.2 * attempt)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _roll_back(client: MlflowClient, name: str, before: AliasState) -> Optional[str]:
    """Restore ``before`` and drop the pending tag; returns None, or why that failed."""
    try:
        _restore(client, name, before)
        client.delete_registered_model_tag(name, PENDING_TAG)
    except MlflowException as exc:
        return _first_line(exc)
    return None


def _versions(state: AliasState) -> str:
    return ", ".join(f"{alias} {getattr(state, alias) or 'unset'}" for alias in _MANAGED)


def move_champion(client: MlflowClient, name: str, candidate: str,
                  expected_champion: Optional[str],
                  record: Callable[[], None] = lambda: None) -> AliasState:
    """Make version ``candidate`` the champion of ``name``; the old one becomes previous.

    Args:
        client: the registry client.
        name: the registered model.
        candidate: version number (string) to promote.
        expected_champion: the champion the decision was made against (None for none); the
            move is refused when the registry says otherwise.
        record: writes the decision record; called once ``champion`` points at the candidate,
            before the move is committed (a failure in it rolls the move back).

    Returns:
        The aliases after the move, as read back from the registry.

    Raises:
        ConcurrentPromotionError: the champion is not the expected one, or the aliases read
            back differ from what was written (someone moved them without the lease).
        PromotionInterruptedError: a registry write failed; the aliases were put back (or, when
            that failed too, the next promotion puts them back).
    """
    before = read_aliases(client, name)
    if before.champion != expected_champion:
        raise ConcurrentPromotionError(
            f"champion of '{name}' is version {before.champion}, expected {expected_champion}; "
            "another promotion moved it, nothing was changed, run again"
        )
    pending = json.dumps({"candidate": candidate, **asdict(before)}, sort_keys=True)
    try:
        client.set_registered_model_tag(name, PENDING_TAG, pending)
        _apply(client, name, CHALLENGER, candidate)
        if expected_champion is not None:
            _apply(client, name, PREVIOUS_CHAMPION, expected_champion)
        _apply(client, name, CHAMPION, candidate)
        record()
        _apply(client, name, CHALLENGER, None)
        client.delete_registered_model_tag(name, PENDING_TAG)
    except MlflowException as exc:
        failure = _roll_back(client, name, before)
        outcome = ("the aliases were put back (" + _versions(before) + "), nothing was promoted"
                   if failure is None else
                   f"putting the aliases back failed too ({failure}); the next promote of "
                   f"'{name}' puts them back")
        raise PromotionInterruptedError(
            f"registry error while promoting version {candidate} of '{name}': "
            f"{_first_line(exc)}; {outcome}; run promote again") from None
    except BaseException:
        _roll_back(client, name, before)
        raise
    after = read_aliases(client, name)
    wanted_previous = (expected_champion if expected_champion is not None
                       else before.previous_champion)
    if after.champion != candidate or after.previous_champion != wanted_previous:
        raise ConcurrentPromotionError(
            f"aliases of '{name}' changed during promotion (champion {after.champion}, "
            f"previous_champion {after.previous_champion}); check the registry before retrying"
        )
    return after


def _pending(client: MlflowClient, name: str) -> Optional[dict]:
    text = (client.get_registered_model(name).tags or {}).get(PENDING_TAG)
    if text is None:
        return None
    try:
        pending = json.loads(text)
        return pending if isinstance(pending, dict) else {}
    except ValueError:
        return {}


def promotion_pending(client: MlflowClient, name: str) -> bool:
    """Whether an interrupted promotion of ``name`` left aliases to put back."""
    return _pending(client, name) is not None


def repair_interrupted(client: MlflowClient, name: str) -> Optional[AliasState]:
    """Put back the aliases an interrupted promotion left moved (call under the lease).

    Returns:
        The restored aliases, or None when no promotion of ``name`` was interrupted.

    Raises:
        PromotionInterruptedError: the registry refused the writes; nothing else was done.
    """
    pending = _pending(client, name)
    if pending is None:
        return None
    if set(pending) != {"candidate", *_MANAGED}:
        raise PromotionInterruptedError(
            f"the registered-model tag '{PENDING_TAG}' of '{name}' is not a promotion record; "
            f"check the aliases {list(_MANAGED)} by hand, then delete the tag")
    before = AliasState(*(pending[alias] for alias in _MANAGED))
    failure = _roll_back(client, name, before)
    if failure is not None:
        raise PromotionInterruptedError(
            f"an interrupted promotion of version {pending['candidate']} of '{name}' left "
            f"aliases to put back, and the registry refused: {failure}; run promote again")
    _log.warning("promote: put back the aliases of '%s' (%s) that an interrupted promotion of "
                 "version %s left moved", name, _versions(before), pending["candidate"])
    return before
