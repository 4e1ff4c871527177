"""Prometheus metrics of the operator: reconciles by result, their duration, errors, writes, robots by phase."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from robot_operator import names

REGISTRY: Final = CollectorRegistry(auto_describe=True)

RECONCILES: Final = Counter(
    "robot_operator_reconciles",
    "Reconciles of Robots, by result: the phase reported (pending, running, invalid, conflict, ...) or error.",
    ["result"],
    registry=REGISTRY,
)
RECONCILE_ERRORS: Final = Counter(
    "robot_operator_reconcile_errors",
    "Reconciles that failed with an API or unexpected error (kopf retries them).",
    registry=REGISTRY,
)
RECONCILE_SECONDS: Final = Histogram(
    "robot_operator_reconcile_duration_seconds",
    "Wall time of one reconcile.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
WRITES: Final = Counter(
    "robot_operator_writes",
    "Write requests (create, patch, delete) sent to the API server, by kind and verb.",
    ["kind", "verb"],
    registry=REGISTRY,
)
ROBOTS_BY_PHASE: Final = Gauge(
    "robot_operator_robots",
    "Robots known to this operator, by status phase.",
    ["phase"],
    registry=REGISTRY,
)
BACKUPS: Final = Counter(
    "robot_operator_backups",
    "Finished backup Jobs seen, by result (Pushed, NoChanges, Failed).",
    ["result"],
    registry=REGISTRY,
)


def set_phase_counts(phases: Iterable[str]) -> None:
    """Set the robots-by-phase gauge from the phases of all known Robots (every phase gets a value, 0 too)."""
    counts = dict.fromkeys(names.PHASES, 0)
    for phase in phases:
        counts[phase] = counts.get(phase, 0) + 1
    for phase, count in counts.items():
        ROBOTS_BY_PHASE.labels(phase=phase).set(count)


def parse_listen_address(address: str) -> tuple[str, int]:
    """`:8090`, `0.0.0.0:8090`, `127.0.0.1:8090` or `[::1]:8090` -> (host, port); ValueError names the rule."""
    host, separator, port_text = address.rpartition(":")
    if not separator or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{address!r} is not HOST:PORT or :PORT with a port 1-65535")
    return host.strip("[]") or "0.0.0.0", int(port_text)


def serve(address: str) -> None:
    """Serve /metrics on `address` in a background thread."""
    host, port = parse_listen_address(address)
    start_http_server(port, addr=host, registry=REGISTRY)
