"""MLproject entry point ``evaluate``: evaluate a model on the test split of a pinned version."""


import _bootstrap  # noqa: F401  (import path for unpacked projects)

from mlflow_delta_plugin.cli import EntryPointParser, exit_process, optional_text, run_entry_point
from mlflow_delta_plugin.config import DEFAULT_TABLE
from mlflow_delta_plugin.datasets.constructor import parse_version
from mlflow_delta_plugin.steps.evaluate import evaluate


def parser() -> EntryPointParser:
    """Parameters of ``evaluate``."""
    args = EntryPointParser(prog="evaluate", description=__doc__)
    args.add_argument("--model_uri", required=True, help="runs:/<run_id>/<path>, "
                      "models:/<name>/<version> or models:/<name>@<alias>")
    args.add_argument("--table", default=DEFAULT_TABLE, help="Delta feature table URI")
    args.add_argument("--version", default="latest", help="Delta version number or 'latest'")
    args.add_argument("--model_name", type=optional_text, default=None,
                      help="registered model whose champion to compare (empty: from model_uri)")
    args.add_argument("--engine", default="embedded",
                      help="embedded (deltalake + pandas here) or spark (active or local session)")
    return args


def main(argv=None) -> int:
    """Run ``evaluate`` with command-line arguments; returns the exit code."""
    return run_entry_point("evaluate", parser(), lambda a: evaluate(
        model_uri=a.model_uri, table=a.table, version=parse_version(a.version),
        model_name=a.model_name, engine=a.engine), argv)


if __name__ == "__main__":
    exit_process(main())
