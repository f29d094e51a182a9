"""MLproject entry point ``monitor``: drift and quality of a scored table vs the training data.

Exit codes (a scheduler can branch on them): 0 monitored, no retrain; ``retrain_exit_code``
(default 3; 0 turns it off) monitored, retrain recommended; 2 bad input (nothing appended);
anything else is a crash. The decision is also printed as ``retrain: yes|no (...)`` on stdout
and recorded in the run tag ``monitor.retrain``.
"""


import _bootstrap  # noqa: F401  (import path for unpacked projects)

from mlflow_delta_plugin.cli import EntryPointParser, exit_process, optional_text, run_entry_point
from mlflow_delta_plugin.monitoring.rules import parse_rules
from mlflow_delta_plugin.monitoring.step import DEFAULT_METRICS_TABLE, monitor

RETRAIN_EXIT_CODE = 3


def parser() -> EntryPointParser:
    """Parameters of ``monitor`` (rule values are checked by ``monitor`` itself)."""
    args = EntryPointParser(prog="monitor", description=__doc__)
    args.add_argument("--scored_table", required=True,
                      help="Delta table written by the databricks-cluster deployment / run-local")
    args.add_argument("--metrics_table", default=DEFAULT_METRICS_TABLE,
                      help="Delta table the statistics are appended to")
    args.add_argument("--label_column", type=optional_text, default="",
                      help="label column of the scored table (or of label_table)")
    args.add_argument("--label_table", type=optional_text, default="",
                      help="Delta table of labels, joined on key")
    args.add_argument("--key", type=optional_text, default="", help="join key for label_table")
    args.add_argument("--prediction_column", default="prediction")
    args.add_argument("--thresholds", default="",
                      help='JSON object statistic -> threshold, e.g. {"psi": 0.2}')
    args.add_argument("--drift_share", default="0.5")
    args.add_argument("--quality_drop", default="")
    args.add_argument("--quality_metric", default="auto")
    args.add_argument("--window_rule", default="1/1", help="N/M: N of the last M windows")
    args.add_argument("--min_rows", default="100")
    args.add_argument("--cooldown", default="0", help="windows without retrain after one")
    args.add_argument("--sample_size", default="20000")
    args.add_argument("--retrain_exit_code", default=str(RETRAIN_EXIT_CODE),
                      help="exit code when retrain is recommended (0: always exit 0)")
    return args


def main(argv=None) -> int:
    """Run ``monitor`` with command-line arguments; returns the exit code."""
    outcome = {}

    def work(a):
        code = a.retrain_exit_code.strip()
        if not code.isdigit() or not 0 <= int(code) <= 255 or int(code) in (1, 2):
            from mlflow_delta_plugin.errors import InvalidInputError

            raise InvalidInputError(f"retrain_exit_code '{a.retrain_exit_code}' must be 0 or "
                                    "3..255 (1 and 2 mean a crash and bad input)")
        outcome["code"] = int(code)
        rules = parse_rules(a.thresholds, a.drift_share, a.quality_drop, a.quality_metric,
                            a.window_rule, a.min_rows, a.cooldown, a.sample_size)
        outcome["result"] = monitor(
            scored_table=a.scored_table, metrics_table=a.metrics_table,
            label_column=a.label_column, label_table=a.label_table, key=a.key,
            prediction_column=a.prediction_column, rules=rules)

    code = run_entry_point("monitor", parser(), work, argv)
    if code != 0:
        return code
    result = outcome["result"]
    print(f"retrain: {'yes' if result.retrain else 'no'} (window {result.window_start}.."
          f"{result.window_end}, model version {result.model_version}: "
          f"{'; '.join(result.reasons)})", flush=True)
    return outcome["code"] if result.retrain else 0


if __name__ == "__main__":
    exit_process(main())
