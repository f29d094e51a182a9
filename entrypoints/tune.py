"""MLproject entry point ``tune``: hyperparameter search on a pinned version of a feature table."""


import _bootstrap  # noqa: F401  (import path for unpacked projects)

from mlflow_delta_plugin.cli import EntryPointParser, exit_process, optional_text, run_entry_point
from mlflow_delta_plugin.config import DEFAULT_MODEL_TYPE, DEFAULT_TABLE
from mlflow_delta_plugin.datasets.constructor import parse_version
from mlflow_delta_plugin.steps.tune import tune


def parser() -> EntryPointParser:
    """Parameters of ``tune`` (as declared in MLproject)."""
    args = EntryPointParser(prog="tune", description=__doc__)
    args.add_argument("--table", default=DEFAULT_TABLE, help="Delta feature table URI")
    args.add_argument("--version", default="latest", help="Delta version number or 'latest'")
    args.add_argument("--model_type", default=DEFAULT_MODEL_TYPE)
    args.add_argument("--search_space", default="",
                      help="JSON object of distributions; empty: the model type's default space")
    args.add_argument("--max_evals", type=int, default=20, help="the most trials to run")
    args.add_argument("--parallelism", type=int, default=1,
                      help="trials run at once (capped at max_evals)")
    args.add_argument("--metric", default="auto",
                      help="metric to optimize on the validation split; auto: roc_auc / rmse")
    args.add_argument("--early_stop", type=int, default=0,
                      help="stop after this many trials without improvement; 0: never")
    args.add_argument("--task", default="auto", help="auto, classification or regression")
    args.add_argument("--registered_model", type=optional_text, default=None,
                      help="register the best model under this name (empty: do not register)")
    args.add_argument("--seed", type=int, default=42)
    args.add_argument("--engine", default="embedded",
                      help="embedded (deltalake + pandas here) or spark (active or local session)")
    return args


def main(argv=None) -> int:
    """Run ``tune`` with command-line arguments; returns the exit code."""
    return run_entry_point("tune", parser(), lambda a: tune(
        table=a.table, version=parse_version(a.version), model_type=a.model_type,
        search_space=a.search_space, max_evals=a.max_evals, parallelism=a.parallelism,
        metric=a.metric, early_stop=a.early_stop, task=a.task,
        registered_model=a.registered_model, seed=a.seed, engine=a.engine), argv)


if __name__ == "__main__":
    exit_process(main())
