"""Clusters and their libraries: the Clusters API (create, get, list, start, delete, restart)
and the Libraries API (install, uninstall, cluster-status, all-cluster-statuses).

A cluster is a driver sandbox folder on this machine (``<root>/clusters/<id>``, see
``driver.py``). Its state follows the service's life cycle on a clock: PENDING for
``cluster_start_seconds`` after create/start, then RUNNING; delete makes it TERMINATED.
Job clusters (``new_cluster`` of a run) are clusters with source JOB, created for the run and
terminated after it.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional

from flask import Flask
from databricks.sdk.service import compute

from .config import EmulatorConfig
from .driver import DriverSandbox
from .errors import ApiError, invalid_parameter, invalid_state
from .libraries import LibraryError, install_library, library_label
from .rest import api_paths, endpoint
from .shapes import dataclass_fields
from .storage import write_json

__all__ = ["Cluster", "ClusterRegistry", "register", "validate_cluster_spec"]

_VERSIONS = ("2.0", "2.1")
_SPEC_FIELDS = set(dataclass_fields(compute.ClusterSpec))


def validate_cluster_spec(spec: dict, path: str) -> None:
    """The checks the service makes on a cluster spec beyond its JSON shape.

    Raises:
        ApiError: INVALID_PARAMETER_VALUE "Cluster validation error: Missing required field".
    """
    def missing(name: str) -> ApiError:
        return invalid_parameter(f"Cluster validation error: Missing required field: {path}.{name}")

    if not spec.get("spark_version"):
        raise missing("spark_version")
    if not (spec.get("node_type_id") or spec.get("instance_pool_id")):
        raise missing("node_type_id")
    if spec.get("num_workers") is None and not spec.get("autoscale"):
        raise missing("size")


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Cluster:
    """One emulated cluster."""

    cluster_id: str
    spec: dict
    source: str
    state: str = "PENDING"
    state_message: str = "Starting Spark"
    start_time: int = field(default_factory=_now_ms)
    ready_at: float = 0.0
    terminated_time: Optional[int] = None
    libraries: list = field(default_factory=list)  # LibraryFullStatus dicts
    termination_reason: Optional[dict] = None  # compute.TerminationReason of a failure


class ClusterRegistry:
    """All clusters of the workspace, persisted in ``state/clusters.json``."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.file = config.layout.state_root / "clusters.json"
        self.lock = threading.RLock()
        self.clusters: dict[str, Cluster] = {}
        if self.file.exists():
            for raw in json.loads(self.file.read_text()):
                cluster = Cluster(**raw)
                if cluster.state not in ("TERMINATED", "ERROR"):
                    cluster.state, cluster.terminated_time = "TERMINATED", _now_ms()
                    cluster.state_message = "Terminated when the emulator stopped"
                self.clusters[cluster.cluster_id] = cluster
        self.ids = itertools.count(len(self.clusters) + 1)

    def _save(self) -> None:
        write_json(self.file, [asdict(c) for c in self.clusters.values()])

    def _new_id(self) -> str:
        return f"{time.strftime('%m%d')}-{next(self.ids):06d}-emu{secrets.token_hex(2)}"

    def create(self, spec: dict, source: str = "API", state: str = "PENDING") -> Cluster:
        """A new cluster from ``spec`` (ClusterSpec fields), starting unless ``state`` says."""
        with self.lock:
            cluster = Cluster(self._new_id(), dict(spec), source)
            if state == "TERMINATED":
                cluster.state, cluster.state_message = "TERMINATED", "Created terminated"
                cluster.terminated_time = _now_ms()
            else:
                cluster.ready_at = time.time() + self.config.cluster_start_seconds
            self.clusters[cluster.cluster_id] = cluster
            self.sandbox_folder(cluster).mkdir(parents=True, exist_ok=True)
            self._save()
            return cluster

    def get(self, cluster_id: str) -> Cluster:
        """The cluster, with its state brought up to now.

        Raises:
            ApiError: INVALID_PARAMETER_VALUE when it does not exist (as the service answers).
        """
        with self.lock:
            cluster = self.clusters.get(cluster_id)
            if cluster is None:
                raise invalid_parameter(f"Cluster {cluster_id} does not exist")
            if cluster.state == "PENDING" and time.time() >= cluster.ready_at:
                cluster.state, cluster.state_message = "RUNNING", ""
                self._save()
            return cluster

    def start(self, cluster_id: str) -> Cluster:
        """Start a terminated cluster (PENDING, then RUNNING).

        Raises:
            ApiError: INVALID_STATE unless the cluster is TERMINATED.
        """
        with self.lock:
            cluster = self.get(cluster_id)
            if cluster.state != "TERMINATED":
                raise invalid_state(f"Cluster {cluster_id} is in unexpected state "
                                    f"{cluster.state.capitalize()}.")
            cluster.state, cluster.state_message = "PENDING", "Starting Spark"
            cluster.ready_at = time.time() + self.config.cluster_start_seconds
            cluster.start_time, cluster.terminated_time = _now_ms(), None
            cluster.termination_reason = None
            self._save()
            return cluster

    def ensure_running(self, cluster_id: str, stopped: Callable[[], bool]) -> Cluster:
        """Start the cluster if terminated and wait until RUNNING or ``stopped()``."""
        with self.lock:
            if self.get(cluster_id).state == "TERMINATED":
                self.start(cluster_id)
        while not stopped():
            cluster = self.get(cluster_id)
            if cluster.state == "RUNNING":
                return cluster
            if cluster.state in ("TERMINATED", "ERROR"):
                raise invalid_state(f"Cluster {cluster_id} terminated while waiting for it")
            time.sleep(0.05)
        return self.get(cluster_id)

    def terminate(self, cluster_id: str, message: str = "Terminated by user",
                  reason: Optional[dict] = None) -> Cluster:
        """Terminate the cluster (a no-op when already terminated); ``reason`` is the
        ``TerminationReason`` of a failure (runs on the cluster then fail with it)."""
        with self.lock:
            cluster = self.get(cluster_id)
            if cluster.state != "TERMINATED":
                cluster.state, cluster.state_message = "TERMINATED", message
                cluster.terminated_time = _now_ms()
                cluster.termination_reason = reason
                self._save()
            return cluster

    def lost(self, cluster_id: str) -> Optional[str]:
        """The message a run on the cluster fails with when the cluster terminated under it by
        a failure (``terminate`` with a reason), else None."""
        with self.lock:
            cluster = self.get(cluster_id)
            reason = cluster.termination_reason
            if cluster.state != "TERMINATED" or not reason:
                return None
            parameters = ", ".join(f"{k}: {v}" for k, v in (reason.get("parameters") or {}
                                                            ).items())
            return (f"Cluster {cluster_id} was terminated. Reason: {reason['code']} "
                    f"({reason['type']}). {cluster.state_message}"
                    + (f" Parameters: {parameters}." if parameters else ""))

    def delete_permanently(self, cluster_id: str) -> None:
        """Forget the cluster."""
        with self.lock:
            self.get(cluster_id)
            del self.clusters[cluster_id]
            self._save()

    def sandbox_folder(self, cluster: Cluster):
        """The driver sandbox folder of ``cluster``."""
        return self.config.layout.clusters_root / cluster.cluster_id

    def install(self, cluster_id: str, libraries: list[dict]) -> list[dict]:
        """Install ``libraries`` on the cluster; returns their statuses (FAILED ones included)."""
        with self.lock:
            cluster = self.get(cluster_id)
            sandbox = DriverSandbox(self.sandbox_folder(cluster), self.config.layout, cluster_id)
            statuses = []
            for library in libraries:
                status: dict = {"library": library, "is_library_for_all_clusters": False}
                try:
                    install_library(library, self.config.layout, sandbox.site_dir,
                                    sandbox.map_paths)
                    status["status"] = "INSTALLED"
                except LibraryError as exc:
                    status["status"] = "FAILED"
                    status["messages"] = [
                        f"Library installation failed for library due to user error for "
                        f"{library_label(library)}. Error messages: {exc}"]
                cluster.libraries = [s for s in cluster.libraries if s["library"] != library]
                cluster.libraries.append(status)
                statuses.append(status)
            self._save()
            return statuses

    def uninstall(self, cluster_id: str, libraries: list[dict]) -> None:
        """Mark ``libraries`` for removal at the next restart, as the service does."""
        with self.lock:
            cluster = self.get(cluster_id)
            for status in cluster.libraries:
                if status["library"] in libraries:
                    status["status"] = "UNINSTALL_ON_RESTART"
            self._save()

    def details(self, cluster: Cluster) -> dict:
        """The ``ClusterDetails`` of ``cluster``."""
        body = {k: v for k, v in cluster.spec.items() if k in _SPEC_FIELDS}
        body.update({
            "cluster_id": cluster.cluster_id, "cluster_source": cluster.source,
            "creator_user_name": self.config.user_name, "state": cluster.state,
            "state_message": cluster.state_message, "start_time": cluster.start_time,
            "spark_context_id": 1000 + int(cluster.cluster_id.split("-")[1]),
            "default_tags": {"ClusterId": cluster.cluster_id,
                             "ClusterName": cluster.spec.get("cluster_name", ""),
                             "Vendor": "Databricks", "Creator": self.config.user_name},
        })
        if cluster.terminated_time:
            body["terminated_time"] = cluster.terminated_time
        if cluster.termination_reason:
            body["termination_reason"] = cluster.termination_reason
        return body


def register(app: Flask, config: EmulatorConfig, clusters: ClusterRegistry) -> None:
    """Add the Clusters and Libraries endpoints to ``app``."""

    @endpoint(app, ["POST"], api_paths("clusters/create", _VERSIONS),
              request_shape=compute.ClustersAPI.create, response=compute.CreateClusterResponse)
    def create(fields: dict) -> dict:
        validate_cluster_spec(fields, "cluster")
        return {"cluster_id": clusters.create(fields, source="API").cluster_id}

    @endpoint(app, ["GET"], api_paths("clusters/get", _VERSIONS),
              request_shape=compute.ClustersAPI.get, response=compute.ClusterDetails)
    def get(fields: dict) -> dict:
        return clusters.details(clusters.get(fields["cluster_id"]))

    @endpoint(app, ["GET"], api_paths("clusters/list", _VERSIONS),
              request_shape=compute.ClustersAPI.list, response=compute.ListClustersResponse)
    def list_(fields: dict) -> dict:
        with clusters.lock:
            found = [clusters.details(clusters.get(i)) for i in list(clusters.clusters)]
        wanted = (fields.get("filter_by") or {}).get("cluster_states")
        if wanted:
            found = [c for c in found if c["state"] in wanted]
        return {"clusters": found} if found else {}

    @endpoint(app, ["POST"], api_paths("clusters/start", _VERSIONS),
              request_shape=compute.ClustersAPI.start)
    def start(fields: dict) -> dict:
        clusters.start(fields["cluster_id"])
        return {}

    @endpoint(app, ["POST"], api_paths("clusters/restart", _VERSIONS),
              request_shape=compute.ClustersAPI.restart)
    def restart(fields: dict) -> dict:
        cluster = clusters.get(fields["cluster_id"])
        if cluster.state != "RUNNING":
            raise invalid_state(f"Cluster {cluster.cluster_id} is in unexpected state "
                                f"{cluster.state.capitalize()}.")
        clusters.terminate(cluster.cluster_id, "Restarting")
        with clusters.lock:
            cluster.libraries = [s for s in cluster.libraries
                                 if s["status"] != "UNINSTALL_ON_RESTART"]
        clusters.start(cluster.cluster_id)
        return {}

    @endpoint(app, ["POST"], api_paths("clusters/delete", _VERSIONS),
              request_shape=compute.ClustersAPI.delete)
    def delete(fields: dict) -> dict:
        clusters.terminate(fields["cluster_id"])
        return {}

    @endpoint(app, ["POST"], api_paths("clusters/permanent-delete", _VERSIONS),
              request_shape=compute.ClustersAPI.permanent_delete)
    def permanent_delete(fields: dict) -> dict:
        clusters.delete_permanently(fields["cluster_id"])
        return {}

    @endpoint(app, ["POST"], api_paths("libraries/install"),
              request_shape=compute.LibrariesAPI.install)
    def install(fields: dict) -> dict:
        clusters.install(fields["cluster_id"], fields["libraries"])
        return {}

    @endpoint(app, ["POST"], api_paths("libraries/uninstall"),
              request_shape=compute.LibrariesAPI.uninstall)
    def uninstall(fields: dict) -> dict:
        clusters.uninstall(fields["cluster_id"], fields["libraries"])
        return {}

    @endpoint(app, ["GET"], api_paths("libraries/cluster-status"),
              request_shape=compute.LibrariesAPI.cluster_status,
              response=compute.ClusterLibraryStatuses)
    def cluster_status(fields: dict) -> dict:
        cluster = clusters.get(fields["cluster_id"])
        body: dict = {"cluster_id": cluster.cluster_id}
        if cluster.libraries:
            body["library_statuses"] = cluster.libraries
        return body

    @endpoint(app, ["GET"], api_paths("libraries/all-cluster-statuses"),
              request_shape=compute.LibrariesAPI.all_cluster_statuses,
              response=compute.ListAllClusterLibraryStatusesResponse)
    def all_cluster_statuses(fields: dict) -> dict:
        with clusters.lock:
            statuses = [{"cluster_id": c.cluster_id, "library_statuses": c.libraries}
                        for c in clusters.clusters.values() if c.libraries]
        return {"statuses": statuses} if statuses else {}

