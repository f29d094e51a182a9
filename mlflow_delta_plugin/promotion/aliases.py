"""Moving the champion/challenger aliases of a registered model (never stages).

A promotion moves, in this order: ``challenger`` -> candidate, ``previous_champion`` -> the
old champion, ``champion`` -> candidate, then removes ``challenger``. Each alias write is
atomic, so at every moment exactly one version is ``champion``. If a write fails half-way, the
aliases are put back as they were; afterwards the result is read back and verified.
"""

from contextlib import suppress
from dataclasses import dataclass
from typing import Optional

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlflow_delta_plugin.errors import ConcurrentPromotionError

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "PREVIOUS_CHAMPION",
    "AliasState",
    "move_champion",
    "read_aliases",
]

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous_champion"
_MANAGED = (CHAMPION, CHALLENGER, PREVIOUS_CHAMPION)


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
    if version is None:
        with suppress(MlflowException):  # the alias is not set: nothing to delete
            client.delete_registered_model_alias(name, alias)
    else:
        client.set_registered_model_alias(name, alias, version)


def _restore(client: MlflowClient, name: str, before: AliasState) -> None:
    for alias, version in zip(_MANAGED, (before.champion, before.challenger,
                                         before.previous_champion)):
        with suppress(MlflowException):  # best effort; the caller sees the original error
            _apply(client, name, alias, version)


def move_champion(client: MlflowClient, name: str, candidate: str,
                  expected_champion: Optional[str]) -> AliasState:
    """Make version ``candidate`` the champion of ``name``; the old one becomes previous.

    Args:
        client: the registry client.
        name: the registered model.
        candidate: version number (string) to promote.
        expected_champion: the champion the decision was made against (None for none); the
            move is refused when the registry says otherwise.

    Returns:
        The aliases after the move, as read back from the registry.

    Raises:
        ConcurrentPromotionError: the champion is not the expected one, or the aliases read
            back differ from what was written (someone moved them without the lease).
    """
    before = read_aliases(client, name)
    if before.champion != expected_champion:
        raise ConcurrentPromotionError(
            f"champion of '{name}' is version {before.champion}, expected {expected_champion}; "
            "another promotion moved it, nothing was changed, run again"
        )
    try:
        _apply(client, name, CHALLENGER, candidate)
        if expected_champion is not None:
            _apply(client, name, PREVIOUS_CHAMPION, expected_champion)
        _apply(client, name, CHAMPION, candidate)
        _apply(client, name, CHALLENGER, None)
    except BaseException:
        _restore(client, name, before)
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
