"""A local emulator of the Databricks workspace REST API subset this project and MLflow use.

A real HTTP server on 127.0.0.1 with bearer-token auth, DBFS, the Files API, Jobs (runs execute
for real on this machine), Clusters, Libraries, Workspace and the MLflow REST API backed by a
local MLflow store. See README.md in this folder.

    from tests.databricks_emulator import WorkspaceEmulator

    with WorkspaceEmulator(root=tmp_path) as ws:
        os.environ.update(ws.env())
"""

from .server import EmulatorError, WorkspaceEmulator

__all__ = ["EmulatorError", "WorkspaceEmulator"]
