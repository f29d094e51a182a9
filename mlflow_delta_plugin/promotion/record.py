"""The audit record of a promotion decision: on the model version and as a run artifact.

Every decision, promoted or rejected, is written to the candidate version as ``promotion.*``
tags (the latest decision) and as a line appended to its description (the history), and
logged to the promotion run as ``promotion/record.json``.
"""

import json
from dataclasses import asdict, dataclass
from typing import Optional

from mlflow import MlflowClient

__all__ = ["RECORD_ARTIFACT", "TAG_PREFIX", "PromotionRecord", "write_record"]

TAG_PREFIX = "promotion."
RECORD_ARTIFACT = "promotion/record.json"
_MAX_DESCRIPTION_CHARS = 20000


def _text(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, float):
        return repr(value)
    return str(value)


@dataclass(frozen=True)
class PromotionRecord:
    """Who decided what, when, on which data, with which numbers.

    Attributes:
        model_name: the registered model.
        candidate_version: the version judged.
        decision: ``promoted`` or ``rejected``.
        metric: metric name; direction: ``higher`` or ``lower``.
        candidate_value: the candidate's value.
        champion_version: the champion it was judged against (None: there was none).
        champion_value: the champion's value on the same data (None: no champion).
        threshold: absolute gate (None: none); min_improvement: margin over the champion.
        data_table: table URI; data_version: Delta version of the test split both were scored on.
        decided_at: ISO 8601 UTC time; decided_by: user; run_id: the promotion run.
        previous_champion: version holding ``previous_champion`` after the decision.
        reasons: one line per gate.
    """

    model_name: str
    candidate_version: str
    decision: str
    metric: str
    direction: str
    candidate_value: float
    champion_version: Optional[str]
    champion_value: Optional[float]
    threshold: Optional[float]
    min_improvement: float
    data_table: str
    data_version: int
    decided_at: str
    decided_by: str
    run_id: Optional[str]
    previous_champion: Optional[str]
    reasons: tuple

    def to_dict(self) -> dict:
        """JSON-ready dictionary (the run artifact)."""
        payload = asdict(self)
        payload["reasons"] = list(self.reasons)
        return payload

    def to_json(self) -> str:
        """The record as indented JSON."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def tags(self) -> dict:
        """``promotion.*`` tags for the model version."""
        fields = self.to_dict()
        fields.pop("model_name")
        fields["reasons"] = "; ".join(self.reasons)
        return {TAG_PREFIX + key: _text(value) for key, value in fields.items()}

    def summary(self) -> str:
        """One human-readable line for the model version's description."""
        champion = (f"champion v{self.champion_version} {self.metric}={self.champion_value:.6g}"
                    if self.champion_version is not None and self.champion_value is not None
                    else "no champion")
        threshold = "none" if self.threshold is None else f"{self.threshold:g}"
        return (f"[{self.decided_at}] {self.decision.upper()} by {self.decided_by} "
                f"(run {self.run_id}): v{self.candidate_version} {self.metric}="
                f"{self.candidate_value:.6g} vs {champion} on '{self.data_table}' "
                f"version {self.data_version} (test split); {self.direction} is better, "
                f"threshold {threshold}, min_improvement {self.min_improvement:g}. "
                f"{'; '.join(self.reasons)}.")


def write_record(client: MlflowClient, record: PromotionRecord) -> None:
    """Write ``record`` onto its model version: tags, plus a description line appended."""
    for key, value in record.tags().items():
        client.set_model_version_tag(record.model_name, record.candidate_version, key, value)
    current = client.get_model_version(record.model_name, record.candidate_version)
    history = (current.description or "").strip()
    description = f"{history}\n{record.summary()}" if history else record.summary()
    client.update_model_version(record.model_name, record.candidate_version,
                                description=description[-_MAX_DESCRIPTION_CHARS:])
