"""MLproject entry point ``train``: fit one model on a pinned version of a feature table."""


import _bootstrap  # noqa: F401  (import path for unpacked projects)

from mlflow_delta_plugin.cli import (
    EntryPointParser,
    exit_process,
    json_object,
    optional_text,
    run_entry_point,
)
from mlflow_delta_plugin.config import DEFAULT_MODEL_TYPE, DEFAULT_TABLE
from mlflow_delta_plugin.datasets.constructor import parse_version
from mlflow_delta_plugin.steps.train import train


def parser() -> EntryPointParser:
    """Parameters of ``train``."""
    args = EntryPointParser(prog="train", description=__doc__)
    args.add_argument("--table", default=DEFAULT_TABLE, help="Delta feature table URI")
    args.add_argument("--version", default="latest", help="Delta version number or 'latest'")
    args.add_argument("--model_type", default=DEFAULT_MODEL_TYPE)
    args.add_argument("--hyperparams", type=json_object, default={},
                      help="JSON object of estimator keyword arguments")
    args.add_argument("--task", default="auto", help="auto, classification or regression")
    args.add_argument("--registered_model", type=optional_text, default=None,
                      help="register the model under this name (empty: do not register)")
    args.add_argument("--seed", type=int, default=42)
    args.add_argument("--label", type=optional_text, default=None,
                      help="label column (default: the one prepare recorded)")
    args.add_argument("--engine", default="embedded",
                      help="embedded (deltalake + pandas here) or spark (active or local session)")
    return args


def main(argv=None) -> int:
    """Run ``train`` with command-line arguments; returns the exit code."""
    return run_entry_point("train", parser(), lambda a: train(
        table=a.table, version=parse_version(a.version), model_type=a.model_type,
        hyperparams=a.hyperparams, task=a.task, registered_model=a.registered_model,
        seed=a.seed, label=a.label, engine=a.engine), argv)


if __name__ == "__main__":
    exit_process(main())
