"""Embedded defaults: the bundled sample data and where the lifecycle writes by default."""

import os

__all__ = ["DEFAULT_INPUT", "DEFAULT_LABEL", "DEFAULT_MODEL_NAME", "DEFAULT_MODEL_TYPE",
           "DEFAULT_TABLE"]

DEFAULT_INPUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sample_data",
                             "breast_cancer.csv")
"""The bundled Wisconsin breast cancer data (see sample_data/README.md)."""

DEFAULT_LABEL = "malignant"
DEFAULT_TABLE = os.path.join("data", "features")
DEFAULT_MODEL_TYPE = "gradient_boosting"
DEFAULT_MODEL_NAME = "breast_cancer_classifier"
