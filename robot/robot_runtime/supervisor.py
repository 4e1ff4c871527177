"""`robot-runtime run`: bootstrap, hold the Lease, supervise the robot as a child, serve the control endpoint."""

from __future__ import annotations

import argparse
import os
from typing import Any

DEFAULT_COMMAND = "/opt/gopherbot/gopherbot"
DEFAULT_CONTROL_ADDR = "0.0.0.0:8080"
DEFAULT_STOP_TIMEOUT = 60.0
DEFAULT_LEASE_DURATION = 15.0
NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the `run` subcommand; every flag has an environment mirror."""
    env = os.environ
    parser = subparsers.add_parser(
        "run",
        help="bootstrap, then run the robot as a supervised child with a control endpoint",
        description="Bootstrap the robot, hold its Lease (when configured), run COMMAND as a child in the robot home "
        "and serve /healthz, /readyz, /backup and /metrics. Flags mirror environment variables.",
    )
    parser.add_argument(
        "--control-addr",
        default=env.get("ROBOT_CONTROL_ADDR", DEFAULT_CONTROL_ADDR),
        help="HOST:PORT of the control endpoint, [::1]:PORT for IPv6 (env ROBOT_CONTROL_ADDR)",
    )
    parser.add_argument(
        "--stop-timeout",
        type=float,
        default=float(env.get("ROBOT_STOP_TIMEOUT", DEFAULT_STOP_TIMEOUT)),
        help="seconds to wait for the child after SIGTERM before SIGKILL (env ROBOT_STOP_TIMEOUT)",
    )
    parser.add_argument(
        "--lease-name",
        default=env.get("ROBOT_LEASE_NAME", ""),
        help="coordination.k8s.io Lease that fences the robot; empty: no Lease (env ROBOT_LEASE_NAME)",
    )
    parser.add_argument(
        "--lease-namespace",
        default=env.get("ROBOT_LEASE_NAMESPACE", ""),
        help="namespace of the Lease; default the pod's namespace (env ROBOT_LEASE_NAMESPACE)",
    )
    parser.add_argument(
        "--lease-duration",
        type=float,
        default=float(env.get("ROBOT_LEASE_DURATION", DEFAULT_LEASE_DURATION)),
        help="Lease duration in seconds; renewed every third of it (env ROBOT_LEASE_DURATION)",
    )
    parser.add_argument(
        "--skip-bootstrap",
        action="store_true",
        default=env.get("ROBOT_SKIP_BOOTSTRAP", "").lower() in ("1", "true", "yes"),
        help="do not clone/restore first: the robot home is already in place (env ROBOT_SKIP_BOOTSTRAP)",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ARGS... (default %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Entry point of `run` (a minimal placeholder until the supervisor lands)."""
    raise NotImplementedError("robot-runtime run is being written")
