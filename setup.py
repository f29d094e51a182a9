"""Installs mlflow_delta_plugin and registers its MLflow plugins by entry point."""

from setuptools import find_packages, setup

setup(
    name="mlflow-delta-plugin",
    version="0.1.0",
    description="Delta-version-tracked datasets and a Databricks cluster deployment target for MLflow",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["mlflow_delta_plugin", "mlflow_delta_plugin.*"]),
    package_data={"mlflow_delta_plugin": ["py.typed", "sample_data/*.csv"]},
    install_requires=[
        "mlflow>=3.1,<4",
        "deltalake>=1.1,<2",
        "pyarrow>=15",
        "pandas>=2.2,<3",
        "scikit-learn>=1.4",
        "scipy>=1.11",
        "databricks-sdk>=0.40",
    ],
    extras_require={
        # The torch MLP model type. Pin the CPU build that lies on the dev machines' disk.
        "torch": ["torch==2.13.0"],
        "tune": ["hyperopt>=0.2.7"],
        "spark": ["pyspark>=4.0", "delta-spark>=4.0"],
        "dev": [
            "torch==2.13.0",
            "hyperopt>=0.2.7",
            "pytest>=8",
            "pytest-timeout>=2.3",
        ],
    },
    entry_points={
        # Dataset source: rebuilds a pinned Delta version from a run's dataset input
        # (mlflow.data.get_source(...)). Source type "delta_version"; MLflow owns "delta_table".
        "mlflow.dataset_source": [
            "delta_version=mlflow_delta_plugin.datasets.source:DeltaVersionSource",
        ],
        # Dataset constructor: exposed as mlflow.data.load_delta_version(...).
        "mlflow.dataset_constructor": [
            "load_delta_version=mlflow_delta_plugin.datasets.constructor:load_delta_version",
        ],
        # Deployment target: `mlflow deployments create -t databricks-cluster` (batch scoring jobs).
        "mlflow.deployments": ["databricks-cluster=mlflow_delta_plugin.deployment.target"],
    },
    classifiers=["Programming Language :: Python :: 3", "Framework :: MLflow"],
)
