"""Make ``mlflow_delta_plugin`` importable when the package is not pip-installed.

Entry points run from a plain checkout or an unpacked project tarball (``mlflow run -b
databricks``): there the package sits next to this folder rather than in site-packages.
"""

import importlib.util
import os
import sys

if importlib.util.find_spec("mlflow_delta_plugin") is None:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
