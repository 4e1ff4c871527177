"""`robot-runtime run`: hold the Lease, bootstrap, supervise the robot as a child, serve the control endpoint.

Order: the Lease (when configured) is acquired BEFORE bootstrap, so a copy that takes over restores the state its
predecessor pushed last, and before the child starts; it is renewed until after the final backup and released last.
A copy that loses its Lease is fenced: it stops its child and pushes nothing (another copy may own the state now).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from robot_runtime.control import BackupCoordinator, ControlServer
from robot_runtime.errors import RobotError
from robot_runtime.kubeapi import KubeClient, in_cluster_namespace, load_config
from robot_runtime.lease import LeaseKeeper, new_identity
from robot_runtime.metrics import RuntimeMetrics
from robot_runtime.results import BackupResult
from robot_runtime.settings import Settings, load_settings

LOG = logging.getLogger("robot_runtime.supervisor")

DEFAULT_COMMAND = "/opt/gopherbot/gopherbot"
DEFAULT_CONTROL_ADDR = "0.0.0.0:8080"
DEFAULT_STOP_TIMEOUT = 60.0
DEFAULT_LEASE_DURATION = 15.0
POLL_INTERVAL = 0.25
EXIT_FENCED = 3
# Secrets the robot's child needs no copy of: the control token only authorises backups through this supervisor.
CHILD_ENV_DROP = ("ROBOT_CONTROL_TOKEN",)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the `run` subcommand; every flag has an environment mirror."""
    env = os.environ
    parser = subparsers.add_parser(
        "run",
        help="bootstrap, then run the robot as a supervised child with a control endpoint",
        description="Hold the robot's Lease (when configured), bootstrap, run COMMAND as a child in the robot home "
        "and serve /healthz, /readyz, POST /backup (Bearer ROBOT_CONTROL_TOKEN) and /metrics. On SIGTERM/SIGINT: "
        "stop the child, push a final backup, release the Lease. Flags mirror environment variables.",
        epilog="Exit status: the child's (128+N when killed by signal N); 1 for a configuration or bootstrap error, or "
        "when the child exited 0 on its own or the final backup failed; 3 when fenced (the Lease was lost: the child "
        "is stopped and NO final backup is pushed, since another copy may own the state).",
    )
    parser.add_argument(
        "--control-addr",
        default=env.get("ROBOT_CONTROL_ADDR", DEFAULT_CONTROL_ADDR),
        help="HOST:PORT of the control endpoint, [::1]:PORT for IPv6 (env ROBOT_CONTROL_ADDR)",
    )
    parser.add_argument(
        "--stop-timeout",
        type=_seconds("ROBOT_STOP_TIMEOUT (--stop-timeout)"),
        default=env.get("ROBOT_STOP_TIMEOUT", str(DEFAULT_STOP_TIMEOUT)),
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
        type=_seconds("ROBOT_LEASE_DURATION (--lease-duration)"),
        default=env.get("ROBOT_LEASE_DURATION", str(DEFAULT_LEASE_DURATION)),
        help="Lease duration in seconds; renewed every third of it (env ROBOT_LEASE_DURATION)",
    )
    parser.add_argument(
        "--skip-bootstrap",
        action="store_true",
        default=env.get("ROBOT_SKIP_BOOTSTRAP", "").lower() in ("1", "true", "yes"),
        help="do not clone/restore first: the robot home is already in place (env ROBOT_SKIP_BOOTSTRAP)",
    )
    parser.add_argument(
        "command", nargs=argparse.REMAINDER, help=f"-- COMMAND ARGS... to supervise (default {DEFAULT_COMMAND})"
    )
    parser.set_defaults(func=run)


def _seconds(name: str) -> Callable[[str], float]:
    """An argparse type for a number of seconds whose error names the variable and the flag."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number of seconds") from None
        if not 0 <= value < float("inf"):
            raise argparse.ArgumentTypeError(f"{name} must be 0 or more seconds")
        return value

    return parse


def run(args: argparse.Namespace) -> int:
    """Entry point of `run`: configuration errors exit 1 with one line; otherwise the supervisor's exit status."""
    _configure_logging()
    try:
        settings = load_settings(os.environ, home=getattr(args, "home", None), known_hosts_file=_known_hosts(args))
        options = options_from_args(args, os.environ)
        keeper = _lease_keeper(options, os.environ)
    except RobotError as error:
        LOG.error("%s", error)
        return 1
    from robot_runtime.backup import backup
    from robot_runtime.bootstrap import bootstrap

    return Supervisor(settings, options, keeper, bootstrap=bootstrap, backup=backup).run()


@dataclass(frozen=True)
class RunOptions:
    """The `run` flags, checked."""

    command: list[str]
    control_addr: str
    stop_timeout: float
    token: str
    skip_bootstrap: bool
    lease_name: str
    lease_namespace: str
    lease_duration: float


def options_from_args(args: argparse.Namespace, env: Mapping[str, str]) -> RunOptions:
    command = list(args.command or [])
    if command and command[0] == "--":
        command = command[1:]
    if args.stop_timeout < 0:
        raise RobotError("ROBOT_STOP_TIMEOUT (--stop-timeout) must be 0 or more seconds")
    if args.lease_name and args.lease_duration < 3:
        raise RobotError("ROBOT_LEASE_DURATION (--lease-duration) must be at least 3 seconds")
    return RunOptions(
        command=command or [DEFAULT_COMMAND],
        control_addr=args.control_addr,
        stop_timeout=float(args.stop_timeout),
        token=env.get("ROBOT_CONTROL_TOKEN", "").strip(),
        skip_bootstrap=bool(args.skip_bootstrap),
        lease_name=args.lease_name,
        lease_namespace=args.lease_namespace or in_cluster_namespace() or env.get("POD_NAMESPACE", ""),
        lease_duration=float(args.lease_duration),
    )


def _lease_keeper(options: RunOptions, env: Mapping[str, str]) -> LeaseKeeper | None:
    if not options.lease_name:
        return None
    if not options.lease_namespace:
        raise RobotError("ROBOT_LEASE_NAMESPACE is not set and there is no pod namespace (POD_NAMESPACE) to default to")
    client = KubeClient(load_config(env))
    identity = new_identity(env.get("HOSTNAME", "") or socket.gethostname())
    return LeaseKeeper(client, options.lease_namespace, options.lease_name, identity, options.lease_duration)


def _known_hosts(args: argparse.Namespace) -> Path | None:
    value = getattr(args, "known_hosts", None)
    return Path(value) if value else None


def _configure_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


class Supervisor:
    """One robot's lifetime: Lease, bootstrap, child, control endpoint, final backup, release."""

    def __init__(
        self,
        settings: Settings,
        options: RunOptions,
        keeper: LeaseKeeper | None,
        *,
        bootstrap: Callable[[Settings], None],
        backup: Callable[[Settings], BackupResult],
    ) -> None:
        self.settings = settings
        self.options = options
        self.keeper = keeper
        self.token = options.token
        self.metrics = RuntimeMetrics()
        self.backups = BackupCoordinator(lambda: backup(settings), self.metrics)
        self._bootstrap = bootstrap
        self._stop = threading.Event()
        self._stop_signal: int | None = None
        self._fenced = threading.Event()
        self._fence_reason = ""
        self._restored = False
        self._child: subprocess.Popen[bytes] | None = None
        self._renewals_done = threading.Event()
        self._is_pid1 = os.getpid() == 1

    # ControlState, read by the HTTP threads
    def is_ready(self) -> bool:
        child = self._child
        return (
            self._restored
            and child is not None
            and child.returncode is None
            and not self._stop.is_set()
            and not self._fenced.is_set()
        )

    def backup_refusal(self) -> str | None:
        if self._fenced.is_set():
            return f"this copy is fenced ({self._fence_reason}): it does not back up"
        if not self._restored or self._child is None:
            return "the robot is not running yet (waiting for its Lease or bootstrapping)"
        return None

    def run(self) -> int:
        self._install_signal_handlers()
        try:
            server = ControlServer(self.options.control_addr, self)
        except RobotError as error:
            LOG.error("%s", error)
            return 1
        server.start()
        LOG.info("control endpoint listening on %s (port %d)", self.options.control_addr, server.port)
        try:
            return self._run_robot()
        finally:
            self._renewals_done.set()
            if self.keeper is not None and not self._fenced.is_set():
                self.keeper.release()
                self.metrics.lease_held.set(0)
            server.stop()

    def _run_robot(self) -> int:
        if self.keeper is not None:
            try:
                held = self._hold_lease(self.keeper)
            except RobotError as error:
                LOG.error("%s", error)
                return 1
            if not held:
                LOG.info("stopped before the Lease was acquired; the robot never started")
                return 0
        if not self._bootstrapped():
            return 1
        if self._fenced.is_set():
            LOG.error("fenced during bootstrap (%s); the robot never started", self._fence_reason)
            return EXIT_FENCED
        if self._stop.is_set():
            LOG.info("stopped during bootstrap; the robot never started")
            return 0
        child = self._start_child()
        if child is None:
            return 1
        return self._supervise(child)

    def _hold_lease(self, keeper: LeaseKeeper) -> bool:
        if not keeper.acquire(self._stop):
            return False
        self.metrics.lease_held.set(1)
        thread = threading.Thread(
            target=keeper.keep_renewed, args=(self._renewals_done, self._on_lease_lost), name="lease", daemon=True
        )
        thread.start()
        return True

    def _on_lease_lost(self, reason: str) -> None:
        self._fence_reason = reason
        self.metrics.lease_held.set(0)
        self.backups.close(f"this copy is fenced ({reason}): it does not back up")
        self._fenced.set()
        LOG.error("fenced: %s; stopping the robot", reason)

    def _bootstrapped(self) -> bool:
        if self.options.skip_bootstrap:
            LOG.info("bootstrap skipped (--skip-bootstrap); using %s as it is", self.settings.home)
        else:
            try:
                self._bootstrap(self.settings)
            except RobotError as error:
                LOG.error("bootstrap failed: %s", error)
                return False
            LOG.info("bootstrap done: configuration and state in %s", self.settings.home)
        self._restored = True
        return True

    def _start_child(self) -> subprocess.Popen[bytes] | None:
        env = {key: value for key, value in os.environ.items() if key not in CHILD_ENV_DROP}
        try:
            child = subprocess.Popen(self.options.command, cwd=self.settings.home, env=env)
        except OSError as error:
            LOG.error("cannot start %s: %s", self.options.command[0], error.strerror or type(error).__name__)
            return None
        self._child = child
        self.metrics.record_child_start()
        self.metrics.ready.set(1)
        LOG.info("started %s (pid %d) in %s", self.options.command[0], child.pid, self.settings.home)
        if self._stop_signal is not None:
            self._forward(self._stop_signal)
        return child

    def _supervise(self, child: subprocess.Popen[bytes]) -> int:
        while True:
            status = _wait(child, POLL_INTERVAL)
            self._reap_orphans(child.pid)
            if self._fenced.is_set():
                return self._stop_fenced(child)
            if self._stop.is_set():
                return self._shut_down(child)
            if status is not None:
                return self._after_child_died(status)

    def _after_child_died(self, status: int) -> int:
        self._child_gone(status)
        LOG.error("the robot exited on its own with %s; final backup, then exit for a restart", _describe(status))
        self._final_backup()
        return _exit_code(status) or 1

    def _shut_down(self, child: subprocess.Popen[bytes]) -> int:
        LOG.info(
            "stopping the robot (signal %s forwarded), waiting up to %.0fs",
            self._stop_signal,
            self.options.stop_timeout,
        )
        status = self._stop_child(child, self.options.stop_timeout)
        self._child_gone(status)
        LOG.info("the robot exited with %s", _describe(status))
        result = self._final_backup()
        code = _exit_code(status)
        if code == 0 and not result.ok:
            return 1
        return code

    def _stop_fenced(self, child: subprocess.Popen[bytes]) -> int:
        grace = min(self.options.stop_timeout, (self.keeper.duration / 3) if self.keeper else 1.0)
        if child.returncode is None:
            child.send_signal(signal.SIGTERM)
        status = self._stop_child(child, grace)
        self._child_gone(status)
        LOG.error(
            "fenced copy stopped the robot (%s) and pushes NO final backup, since another copy may own the state now; "
            "memories written since the last backup stay only in this copy's state/",
            _describe(status),
        )
        return EXIT_FENCED

    def _stop_child(self, child: subprocess.Popen[bytes], timeout: float) -> int:
        status = _wait(child, timeout)
        if status is None:
            LOG.warning("the robot did not stop within %.0fs; sending SIGKILL", timeout)
            child.kill()
            status = child.wait()
        return status

    def _child_gone(self, status: int) -> None:
        self.metrics.child_exits.inc()
        self.metrics.ready.set(0)

    def _final_backup(self) -> BackupResult:
        result = self.backups.backup(join=False, label="final backup")
        self.backups.close("the robot is stopping")
        return result

    def _install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        signal.signal(signal.SIGINT, self._on_stop_signal)

    def _on_stop_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._stop_signal is None:
            self._stop_signal = signum
        self._stop.set()
        self._forward(signum)

    def _forward(self, signum: int) -> None:
        child = self._child
        if child is not None and child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signum)

    def _reap_orphans(self, child_pid: int) -> None:
        """As PID 1, reap orphaned zombies, leaving the robot child (and any backup's own subprocesses) alone."""
        if not self._is_pid1:
            return
        with self.backups.quiet() as quiet:
            if quiet:
                reap_zombies_except(child_pid)


def reap_zombies_except(keep_pid: int, limit: int = 1000) -> int:
    """waitpid every exited child but `keep_pid` (peeked first with WNOWAIT so its status is not stolen)."""
    reaped = 0
    for _ in range(limit):
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            break
        if info is None or info.si_pid == keep_pid:
            break
        os.waitpid(info.si_pid, os.WNOHANG)
        reaped += 1
    return reaped


def _wait(child: subprocess.Popen[bytes], timeout: float) -> int | None:
    try:
        return child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def _exit_code(status: int) -> int:
    """Popen's status (negative: killed by a signal) -> a shell-style exit code."""
    return 128 - status if status < 0 else status


def _describe(status: int) -> str:
    if status < 0:
        return f"signal {signal.Signals(-status).name}"
    return f"status {status}"
