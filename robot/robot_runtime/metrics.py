"""Prometheus metrics of the supervisor, kept in a private registry and rendered for GET /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from robot_runtime.results import BackupResult

CONTENT_TYPE = CONTENT_TYPE_LATEST


class RuntimeMetrics:
    """The supervisor's counters and gauges; `render()` gives the Prometheus text exposition."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.backups = Counter(
            "robot_backups", "Backups run by the supervisor, by result", ["result"], registry=self.registry
        )
        for outcome in ("Pushed", "NoChanges", "Failed"):
            self.backups.labels(result=outcome)
        self.last_backup = Gauge(
            "robot_last_backup_timestamp_seconds", "Unix time of the last backup attempt", registry=self.registry
        )
        self.last_success = Gauge(
            "robot_last_successful_backup_timestamp_seconds",
            "Unix time of the last backup that ended Pushed or NoChanges",
            registry=self.registry,
        )
        self.child_starts = Counter("robot_child_starts", "Times the robot child was started", registry=self.registry)
        self.child_restarts = Counter(
            "robot_child_restarts", "Times the robot child was started again after an exit", registry=self.registry
        )
        self.child_exits = Counter("robot_child_exits", "Exits of the robot child", registry=self.registry)
        self.ready = Gauge("robot_ready", "1 when restored and the child is running, else 0", registry=self.registry)
        self.lease_held = Gauge("robot_lease_held", "1 while this copy holds the robot's Lease", registry=self.registry)
        self._starts = 0

    def record_backup(self, result: BackupResult, at: float) -> None:
        self.backups.labels(result=result.result).inc()
        self.last_backup.set(at)
        if result.ok:
            self.last_success.set(at)

    def record_child_start(self) -> None:
        if self._starts > 0:
            self.child_restarts.inc()
        self._starts += 1
        self.child_starts.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
