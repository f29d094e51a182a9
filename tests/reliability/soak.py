"""The soak switch of the reliability tests: ``MLFLOW_DELTA_SOAK=1`` repeats each scenario
``MLFLOW_DELTA_SOAK_REPEATS`` times (default 10); CI runs each once."""

import os

SOAK_REPEATS = (int(os.environ.get("MLFLOW_DELTA_SOAK_REPEATS", "10"))
                if os.environ.get("MLFLOW_DELTA_SOAK") == "1" else 1)
