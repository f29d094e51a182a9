"""MLproject entry point ``promote``: champion/challenger promotion with registry aliases."""


import _bootstrap  # noqa: F401  (import path for unpacked projects)

from mlflow_delta_plugin.cli import EntryPointParser, exit_process, run_entry_point
from mlflow_delta_plugin.config import DEFAULT_TABLE
from mlflow_delta_plugin.datasets.constructor import parse_version
from mlflow_delta_plugin.steps.promote import promote


def parser() -> EntryPointParser:
    """Parameters of ``promote`` (numbers and flags are checked by ``promote`` itself)."""
    args = EntryPointParser(prog="promote", description=__doc__)
    args.add_argument("--model_name", required=True, help="registered model")
    args.add_argument("--candidate", default="latest",
                      help="version number, alias, or 'latest' (highest version)")
    args.add_argument("--metric", default="auto",
                      help="auto, accuracy, f1, roc_auc, log_loss, rmse, mae or r2")
    args.add_argument("--direction", default="auto", help="auto, higher or lower")
    args.add_argument("--threshold", default="", help="absolute gate; empty for none")
    args.add_argument("--min_improvement", default="0", help="margin over the current champion")
    args.add_argument("--table", default=DEFAULT_TABLE, help="Delta feature table URI")
    args.add_argument("--version", default="latest", help="Delta version number or 'latest'")
    args.add_argument("--fail_on_reject", default="false",
                      help="true: exit non-zero when the candidate is rejected")
    return args


def main(argv=None) -> int:
    """Run ``promote`` with command-line arguments; returns the exit code."""
    return run_entry_point("promote", parser(), lambda a: promote(
        model_name=a.model_name, candidate=a.candidate, metric=a.metric, direction=a.direction,
        threshold=a.threshold, min_improvement=a.min_improvement, table=a.table,
        version=parse_version(a.version), fail_on_reject=a.fail_on_reject), argv)


if __name__ == "__main__":
    exit_process(main())
