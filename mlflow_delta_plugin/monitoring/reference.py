"""The reference of a monitored model version: the exact rows it was trained on, by lineage.

Model version -> the run that logged it -> that run's ``delta_version`` dataset input with
context ``training`` -> ``mlflow.data.get_source(...)``: the pinned Delta version, time-travelled
to, whatever the table holds now. Its ``train`` split (the split recorded by ``prepare``) is the
reference. A version whose run has no such input has no lineage and cannot be monitored.
"""

import re
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

import mlflow
import pyarrow as pa
import pyarrow.dataset as pds
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlflow_delta_plugin.datasets.dataset import DeltaVersionDataset
from mlflow_delta_plugin.datasets.source import DELTA_VERSION_SOURCE_TYPE, DeltaVersionSource
from mlflow_delta_plugin.delta.lineage import TableSpec, find_table_spec
from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.monitoring.window import require_plain_files
from mlflow_delta_plugin.promotion.model_refs import training_params
from mlflow_delta_plugin.ingest.split import TRAIN

__all__ = ["Reference", "find_reference", "model_name_of", "reference_batches"]

TRAINING_CONTEXT = "training"
_NAME = re.compile(r"^models:/([^/@]+)(?:/[^/]+|@.+)$")


@dataclass(frozen=True)
class Reference:
    """What a model version was trained on.

    Attributes:
        model_name, model_version: the registered model version.
        run_id: the run that trained it.
        source: the pinned Delta version of its training input.
        spec: label, features and split column of that version (from ``prepare``).
        task: ``classification`` or ``regression`` as the training run resolved it.
        evaluation: the training run's ``test_*`` metrics, without the prefix.
    """

    model_name: str
    model_version: str
    run_id: str
    source: DeltaVersionSource
    spec: TableSpec
    task: str
    evaluation: dict

    @property
    def model_uri(self) -> str:
        """The pinned model URI."""
        return f"models:/{self.model_name}/{self.model_version}"

    def dataset(self) -> DeltaVersionDataset:
        """The reference as an MLflow dataset (to log with context ``reference``)."""
        filtered = DeltaVersionSource(self.source.uri, self.source.version,
                                      self.source.timestamp_ms, self.source.table_id,
                                      self.source.catalog_name,
                                      [(self.spec.split_column, "=", TRAIN)])
        return DeltaVersionDataset(filtered, targets=self.spec.label)


def model_name_of(model_uri: str) -> Optional[str]:
    """The registered model named by a ``models:/name/...`` or ``models:/name@alias`` URI."""
    match = _NAME.match((model_uri or "").strip())
    return match.group(1) if match and not match.group(1).startswith("m-") else None


def _training_input(client: MlflowClient, run_id: str):
    run = client.get_run(run_id)
    for dataset_input in run.inputs.dataset_inputs or []:
        tags = {tag.key: tag.value for tag in dataset_input.tags}
        if tags.get("mlflow.data.context") == TRAINING_CONTEXT \
                and dataset_input.dataset.source_type == DELTA_VERSION_SOURCE_TYPE:
            return dataset_input
    return None


def find_reference(client: MlflowClient, model_name: str, model_version: str) -> Reference:
    """The reference of ``model_name`` version ``model_version``, found through lineage.

    Raises:
        InvalidInputError: unknown version, or one without a ``delta_version`` training input
            (no lineage), or whose training table version has no split recorded.
    """
    label = f"model '{model_name}' version {model_version}"
    try:
        version = client.get_model_version(model_name, str(model_version))
    except MlflowException as exc:
        raise InvalidInputError(f"{label} is not in the registry ({exc.error_code}); the scored "
                                "table names a model version that does not exist") from None
    dataset_input = _training_input(client, version.run_id) if version.run_id else None
    if dataset_input is None:
        raise InvalidInputError(
            f"{label} has no lineage: its run {version.run_id or '(none)'} has no delta_version "
            "dataset input with context 'training'; monitor models trained by the train or tune "
            "entry points")
    source = mlflow.data.get_source(dataset_input)
    require_plain_files(source.open(), source.uri)
    spec = find_table_spec(source.uri, source.version)
    if spec is None:
        raise InvalidInputError(f"{label} was trained on '{source.uri}' version {source.version}"
                                ", which has no label or split recorded by prepare")
    params = training_params(client, version.run_id)
    metrics = client.get_run(version.run_id).data.metrics
    evaluation = {k[len("test_"):]: v for k, v in metrics.items() if k.startswith("test_")}
    return Reference(model_name, str(model_version), version.run_id, source, spec,
                     params.get("task", "classification"), evaluation)


def reference_batches(reference: Reference, columns: Sequence[str],
                      batch_size: int = 65536) -> Iterator[pa.RecordBatch]:
    """The reference's ``train`` rows, ``columns`` only, one record batch at a time."""
    table = reference.source.open()
    dataset = table.to_pyarrow_dataset()
    split = pds.field(reference.spec.split_column) == TRAIN
    yield from dataset.to_batches(columns=list(columns), filter=split, batch_size=batch_size,
                                  batch_readahead=2, fragment_readahead=1, use_threads=False)
