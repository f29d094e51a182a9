"""``promote``: champion/challenger promotion with aliases, judged on one pinned data version.

The candidate and the current champion are scored on the ``test`` split of the same Delta
version; the gates (:mod:`mlflow_delta_plugin.promotion.decision`) decide; when they pass,
``challenger`` then ``champion`` move to the candidate and the old champion becomes
``previous_champion``. The decision is recorded on the candidate version and as a run
artifact either way. Stages are never used.

Concurrent promotions of one model are serialized by a lease
(:mod:`mlflow_delta_plugin.promotion.lease`); the champion is re-read under the lease, so the
decision and the record always name the champion that was actually replaced.
"""

import getpass
import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional, Union

import mlflow
from mlflow import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_USER

from mlflow_delta_plugin.config import DEFAULT_TABLE
from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.models.metrics import metric_direction
from mlflow_delta_plugin.promotion.aliases import (
    move_champion,
    promotion_pending,
    read_aliases,
    repair_interrupted,
)
from mlflow_delta_plugin.promotion.decision import Gates, decide, parse_flag, parse_number
from mlflow_delta_plugin.errors import PromotionRejectedError
from mlflow_delta_plugin.promotion.lease import PromotionLease
from mlflow_delta_plugin.promotion.model_refs import find_model_version, training_params
from mlflow_delta_plugin.promotion.record import RECORD_ARTIFACT, PromotionRecord, write_record
from mlflow_delta_plugin.promotion.scoring import ScoredModel, check_metric, score_uri
from mlflow_delta_plugin.promotion.evaluation_data import TestSplit, load_test_split
from mlflow_delta_plugin.tracking.runs import log_step_params

__all__ = ["PromoteResult", "promote"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PromoteResult:
    """What ``promote`` decided.

    Attributes:
        run_id: the MLflow run ("" without an active run).
        model_name: the registered model.
        candidate_version: the version judged.
        decision: ``promoted`` or ``rejected``.
        metric: metric name; direction: ``higher`` or ``lower``.
        candidate_value: the candidate's metric value.
        champion_version: the champion it was judged against (None: first promotion).
        champion_value: the champion's value on the same data (None: first promotion).
        previous_champion: version holding ``previous_champion`` after the decision.
        table: feature table URI; version: Delta version both were scored on.
        reasons: one line per gate.
    """

    run_id: str
    model_name: str
    candidate_version: str
    decision: str
    metric: str
    direction: str
    candidate_value: float
    champion_version: Optional[str]
    champion_value: Optional[float]
    previous_champion: Optional[str]
    table: str
    version: int
    reasons: tuple

    @property
    def promoted(self) -> bool:
        """The candidate is now the champion."""
        return self.decision == "promoted"


def _decided_by() -> str:
    """The user, as MLflow resolved it for the active run (its ``mlflow.user`` tag)."""
    run = mlflow.active_run()
    if run is not None:
        user = mlflow.get_run(run.info.run_id).data.tags.get(MLFLOW_USER)
        if user:
            return user
    try:
        return getpass.getuser()
    except (ImportError, KeyError, OSError):
        return "unknown"


def _version_uri(model_name: str, version: str) -> str:
    return f"models:/{model_name}/{version}"


def _score(scored: dict, model_name: str, version: str, split: TestSplit, metric: str) -> float:
    """Score ``version`` once (cached in ``scored``) and return its ``metric`` value."""
    if version not in scored:
        scored[version] = score_uri(_version_uri(model_name, version), split)
    result: ScoredModel = scored[version]
    return result.value(metric)


def _already_champion(model_name: str, version: str) -> InvalidInputError:
    return InvalidInputError(
        f"candidate version {version} of '{model_name}' is already the champion; nothing to "
        "promote (pass another version to roll back)"
    )


def promote(
    model_name: str,
    candidate: Union[str, int] = "latest",
    metric: str = "auto",
    direction: str = "auto",
    threshold: Union[float, str, None] = None,
    min_improvement: Union[float, str] = 0.0,
    table: str = DEFAULT_TABLE,
    version: Optional[int] = None,
    fail_on_reject: Union[bool, str] = False,
    lease_wait_s: float = 120.0,
) -> PromoteResult:
    """Judge ``candidate`` of ``model_name`` and move ``champion`` to it when the gates pass.

    Args:
        model_name: registered model.
        candidate: version number, alias, or ``latest`` (the highest version number).
        metric: ``auto`` (roc_auc for binary classification, accuracy for multiclass, rmse for
            regression) or one of accuracy, f1, roc_auc, log_loss, rmse, mae, r2.
        direction: ``auto`` (known per metric), ``higher`` or ``lower``.
        threshold: absolute gate on the candidate's value; None or ``""`` for none.
        min_improvement: margin the candidate must beat the champion by (not applied when
            there is no champion yet).
        table: feature table URI; version: its Delta version (None = latest), pinned once and
            used for both models.
        fail_on_reject: raise :class:`PromotionRejectedError` (after recording) on rejection.
        lease_wait_s: how long to wait for a concurrent promotion of the same model.

    Returns:
        The decision; a rejection is a normal result unless ``fail_on_reject``.

    Raises:
        InvalidInputError: unknown model / version / alias / metric, bad numbers, no test split,
            candidate already champion. Nothing is written.
        PromotionRejectedError: rejected with ``fail_on_reject``; the decision is recorded.
        PromotionBusyError: another promotion held the lease for longer than ``lease_wait_s``.

    Example:
        >>> result = promote("my_model", candidate="latest", threshold=0.9)  # doctest: +SKIP
        >>> result.decision, result.champion_version  # doctest: +SKIP
        ('promoted', '2')
    """
    threshold = parse_number("threshold", threshold, optional=True)
    min_improvement = parse_number("min_improvement", min_improvement)
    fail_on_reject = parse_flag("fail_on_reject", fail_on_reject)
    client = MlflowClient()
    candidate_found = find_model_version(client, model_name, str(candidate))
    candidate_version = str(candidate_found.version)
    trained_with = training_params(client, candidate_found.run_id)
    split = load_test_split(table, version, trained_with.get("label") or None,
                            trained_with.get("task"))
    metric_name = check_metric(metric, split)
    gates = Gates(metric_name, metric_direction(metric_name, direction), threshold,
                  min_improvement)

    run = mlflow.active_run()
    run_id = run.info.run_id if run else ""
    mlflow.log_input(split.dataset, context="evaluation")
    log_step_params({
        "model_name": model_name, "candidate": str(candidate),
        "candidate_version": candidate_version, "metric": metric_name,
        "direction": gates.direction, "threshold": "none" if threshold is None else threshold,
        "min_improvement": min_improvement, "table": split.table, "delta_version": split.version,
        "fail_on_reject": fail_on_reject,
    })

    scored: dict = {}
    candidate_value = _score(scored, model_name, candidate_version, split, metric_name)
    champion_seen = read_aliases(client, model_name).champion
    if champion_seen == candidate_version and not promotion_pending(client, model_name):
        raise _already_champion(model_name, candidate_version)
    if champion_seen is not None:  # score outside the lease; re-checked under it
        _score(scored, model_name, champion_seen, split, metric_name)

    owner = f"{_decided_by()}@{socket.gethostname()}:{os.getpid()}"
    with PromotionLease(client, model_name, owner=owner, run_id=run_id,
                        wait_s=lease_wait_s) as lease:
        repair_interrupted(client, model_name)  # aliases an interrupted promotion left moved
        aliases = read_aliases(client, model_name)
        champion = aliases.champion
        if champion == candidate_version:
            raise _already_champion(model_name, candidate_version)
        champion_value = (_score(scored, model_name, champion, split, metric_name)
                          if champion is not None else None)
        decision = decide(gates, candidate_value, champion_value)
        previous = aliases.previous_champion
        if decision.promoted and champion is not None:
            previous = champion
        record = PromotionRecord(
            model_name=model_name, candidate_version=candidate_version,
            decision=decision.outcome, metric=metric_name, direction=gates.direction,
            candidate_value=candidate_value, champion_version=champion,
            champion_value=champion_value, threshold=threshold,
            min_improvement=min_improvement, data_table=split.table,
            data_version=split.version,
            decided_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            decided_by=_decided_by(), run_id=run_id or None, previous_champion=previous,
            reasons=decision.reasons,
        )
        if decision.promoted:  # the record is written inside the move, before it commits
            lease.check()
            move_champion(client, model_name, candidate_version, champion,
                          record=lambda: write_record(client, record))
        else:
            write_record(client, record)

    metrics = {f"candidate_{metric_name}": candidate_value}
    if champion_value is not None:
        metrics[f"champion_{metric_name}"] = champion_value
    mlflow.log_metrics(metrics)
    mlflow.log_text(record.to_json(), RECORD_ARTIFACT)
    mlflow.set_tags({"promotion.decision": decision.outcome, "delta.table": split.table,
                     "delta.version": str(split.version), "registered_model": model_name,
                     "promotion.candidate_version": candidate_version,
                     "promotion.champion_version": champion or "none"})
    _log.info("promote: version %s of '%s' %s (%s)", candidate_version, model_name,
              decision.outcome, "; ".join(decision.reasons))
    if not decision.promoted and fail_on_reject:
        raise PromotionRejectedError(
            f"candidate version {candidate_version} of '{model_name}' was rejected "
            f"({'; '.join(decision.reasons)}); the decision is recorded on the version"
        )
    return PromoteResult(
        run_id=run_id, model_name=model_name, candidate_version=candidate_version,
        decision=decision.outcome, metric=metric_name, direction=gates.direction,
        candidate_value=candidate_value, champion_version=champion,
        champion_value=champion_value, previous_champion=previous, table=split.table,
        version=split.version, reasons=decision.reasons,
    )
