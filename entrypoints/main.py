"""MLproject entry point ``main``: the whole lifecycle on one data version, as child runs."""


import _bootstrap  # noqa: F401  (import path for unpacked projects)

from mlflow_delta_plugin.cli import (
    EntryPointParser,
    exit_process,
    json_object,
    optional_text,
    run_entry_point,
)
from mlflow_delta_plugin.config import (
    DEFAULT_INPUT,
    DEFAULT_LABEL,
    DEFAULT_MODEL_NAME,
    DEFAULT_MODEL_TYPE,
    DEFAULT_TABLE,
)
from mlflow_delta_plugin.steps.lifecycle import run_lifecycle


def parser() -> EntryPointParser:
    """Parameters of ``main``."""
    args = EntryPointParser(prog="main", description=__doc__)
    args.add_argument("--input", default=DEFAULT_INPUT)
    args.add_argument("--table", default=DEFAULT_TABLE)
    args.add_argument("--label", default=DEFAULT_LABEL)
    args.add_argument("--model_type", default=DEFAULT_MODEL_TYPE)
    args.add_argument("--hyperparams", type=json_object, default={})
    args.add_argument("--registered_model", type=optional_text, default=DEFAULT_MODEL_NAME)
    args.add_argument("--seed", type=int, default=42)
    args.add_argument("--test_fraction", type=float, default=0.2)
    args.add_argument("--max_evals", type=int, default=0,
                      help="tune with this many trials instead of training once (0: train)")
    args.add_argument("--parallelism", type=int, default=1)
    args.add_argument("--metric", default="auto")
    args.add_argument("--threshold", type=optional_text, default=None)
    args.add_argument("--min_improvement", default="0")
    args.add_argument("--engine", default="embedded",
                      help="embedded (deltalake + pandas here) or spark (active or local session)")
    return args


def main(argv=None) -> int:
    """Run the lifecycle with command-line arguments; returns the exit code."""
    return run_entry_point("main", parser(), lambda a: run_lifecycle(
        input=a.input or DEFAULT_INPUT, table=a.table, label=a.label, model_type=a.model_type,
        hyperparams=a.hyperparams, registered_model=a.registered_model, seed=a.seed,
        test_fraction=a.test_fraction, max_evals=a.max_evals, parallelism=a.parallelism,
        metric=a.metric, threshold=a.threshold, min_improvement=a.min_improvement,
        engine=a.engine), argv)


if __name__ == "__main__":
    exit_process(main())
