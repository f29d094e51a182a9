"""MLproject entry point ``prepare``: raw input -> Delta feature table with a train/test split."""


import _bootstrap  # noqa: F401  (import path for unpacked projects)

from mlflow_delta_plugin.cli import EntryPointParser, exit_process, optional_text, run_entry_point
from mlflow_delta_plugin.config import DEFAULT_INPUT, DEFAULT_LABEL, DEFAULT_TABLE
from mlflow_delta_plugin.steps.prepare import prepare


def parser() -> EntryPointParser:
    """Parameters of ``prepare``."""
    args = EntryPointParser(prog="prepare", description=__doc__)
    args.add_argument("--input", default=DEFAULT_INPUT,
                      help="CSV file, Parquet file or folder, or Delta table (default: bundled sample)")
    args.add_argument("--table", default=DEFAULT_TABLE, help="Delta table URI to write")
    args.add_argument("--label", default=DEFAULT_LABEL, help="label column")
    args.add_argument("--mode", default="overwrite", choices=["overwrite", "append"])
    args.add_argument("--test_fraction", type=float, default=0.2)
    args.add_argument("--seed", type=int, default=42)
    args.add_argument("--key", type=optional_text, default=None,
                      help="column identifying a row (its hash decides the split)")
    args.add_argument("--batch_rows", type=int, default=65_536, help="rows per streamed batch")
    args.add_argument("--engine", default="embedded",
                      help="embedded (deltalake + pandas here) or spark (active or local session)")
    return args


def main(argv=None) -> int:
    """Run ``prepare`` with command-line arguments; returns the exit code."""
    return run_entry_point("prepare", parser(), lambda a: prepare(
        input=a.input or DEFAULT_INPUT, table=a.table, label=a.label, mode=a.mode,
        test_fraction=a.test_fraction, seed=a.seed, key=a.key, batch_rows=a.batch_rows,
        engine=a.engine), argv)


if __name__ == "__main__":
    exit_process(main())
