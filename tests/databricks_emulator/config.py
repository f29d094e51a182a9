"""The settings of one emulator instance."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .storage import Layout

__all__ = ["EmulatorConfig"]


@dataclass
class EmulatorConfig:
    """Settings of one emulated workspace.

    Attributes:
        root: folder holding all its data (see ``storage.Layout``).
        token: the one personal access token the workspace accepts.
        host, port: where the HTTP server listens (port 0: any free port).
        cluster_start_seconds: how long a cluster stays PENDING before RUNNING.
        user_name: the user the token belongs to.
        workspace_id: the workspace (org) id reported to clients.
    """

    root: Path
    token: str
    host: str = "127.0.0.1"
    port: int = 0
    cluster_start_seconds: float = 1.0
    user_name: str = "emulator-user@example.com"
    workspace_id: int = 1234567890123456
    base_url: str = ""  # set once the server is bound

    @property
    def layout(self) -> Layout:
        return Layout(Path(self.root))
