"""A small production stream for monitor tests: the real lifecycle on the bundled sample.

``prepare`` and ``train`` (registered) build the model; each :meth:`Stream.score` writes a batch
of rows to an input Delta table and scores it with the deployment's own scorer
(``score_table``, pandas engine), which appends one version to the scored table.
"""

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import mlflow
import numpy as np
import pandas as pd
from deltalake import write_deltalake

from mlflow_delta_plugin.config import DEFAULT_INPUT, DEFAULT_LABEL
from mlflow_delta_plugin.deployment.config import ScoringSpec
from mlflow_delta_plugin.deployment.scorer import score_table
from mlflow_delta_plugin.steps.prepare import prepare
from mlflow_delta_plugin.steps.train import train

ROWS_PER_WINDOW = 1000


@dataclass
class Stream:
    """A trained, registered model and the tables of its scoring stream."""

    folder: Path
    experiment_id: str
    model_name: str
    features: str
    incoming: str
    scored: str
    data: pd.DataFrame

    @classmethod
    def build(cls, folder: Path) -> "Stream":
        """Prepare the sample, train and register a linear model on it (version 1)."""
        experiment_id = mlflow.create_experiment(f"monitor-{uuid.uuid4().hex[:10]}",
                                                 artifact_location=str(folder / "artifacts"))
        mlflow.set_experiment(experiment_id=experiment_id)
        name = f"monitored_{uuid.uuid4().hex[:10]}"
        features = str(folder / "features")
        with mlflow.start_run():
            prepare(input=DEFAULT_INPUT, table=features, label=DEFAULT_LABEL)
        with mlflow.start_run():
            train(features, model_type="linear", registered_model=name)
        data = pd.read_csv(DEFAULT_INPUT)
        data.insert(0, "row_id", np.arange(len(data)))
        return cls(folder, experiment_id, name, features, str(folder / "incoming"),
                   str(folder / "scored"), data)

    def rows(self, seed: int, scale: Optional[dict] = None,
             flip_labels: float = 0.0) -> pd.DataFrame:
        """``ROWS_PER_WINDOW`` rows drawn from the sample (stable data), optionally with
        features multiplied (a covariate shift) or a share of labels flipped (a concept shift).
        ``row_id`` is unique per draw."""
        rows = self.data.sample(n=ROWS_PER_WINDOW, replace=True, random_state=seed)
        rows = rows.reset_index(drop=True)
        rows["row_id"] = seed * 1_000_000 + np.arange(len(rows))
        for column, factor in (scale or {}).items():
            rows[column] = rows[column] * factor
        if flip_labels:
            flip = np.random.default_rng(seed).random(len(rows)) < flip_labels
            rows.loc[flip, DEFAULT_LABEL] = 1 - rows.loc[flip, DEFAULT_LABEL]
        return rows

    def score(self, rows: pd.DataFrame, model_uri: Optional[str] = None) -> int:
        """Score ``rows`` with the model (``@champion`` style pinning by the scorer); returns
        the scored table's new version."""
        write_deltalake(self.incoming, rows, mode="overwrite")
        spec = ScoringSpec(input_table=self.incoming, output_table=self.scored, engine="pandas")
        uri = model_uri or f"models:/{self.model_name}/1"
        return score_table(None, uri, spec, deployment="monitor-test").output_version
