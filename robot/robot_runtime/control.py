"""The supervisor's control endpoint (health, readiness, backup, metrics) and its client, `remote_backup`."""

from __future__ import annotations

import hmac
import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from robot_runtime.errors import RobotError
from robot_runtime.metrics import CONTENT_TYPE, RuntimeMetrics
from robot_runtime.results import BackupResult

LOG = logging.getLogger("robot_runtime.control")


def remote_backup(url: str, token: str, timeout: float) -> BackupResult:
    """Ask a running supervisor at `url` to back up; any failure becomes a Failed result (never naming the token)."""
    if not url.startswith(("http://", "https://")):
        return _failed("the remote control URL (--remote) is not an http:// or https:// URL")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url.rstrip("/") + "/backup",
        data=b"",
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked
            return _result_from_body(response.read(), response.status)
    except urllib.error.HTTPError as error:
        body = error.read()
        if error.code == 500:
            return _result_from_body(body, error.code)
        return _failed(f"control endpoint {_redact(url)} answered HTTP {error.code} {error.reason}")
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        reason = getattr(error, "reason", error)
        return _failed(f"cannot reach control endpoint {_redact(url)}: {_one_line(str(reason))}")


def _result_from_body(body: bytes, status: int) -> BackupResult:
    try:
        return BackupResult.from_json(body.decode("utf-8", "replace"))
    except (ValueError, json.JSONDecodeError):
        return _failed(f"control endpoint answered HTTP {status} without a backup result")


def _failed(message: str) -> BackupResult:
    return BackupResult(result="Failed", commit=None, message=message)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _redact(url: str) -> str:
    """Drop any user:password@ part of a URL before it is logged."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    host = authority.rpartition("@")[2]
    return f"{scheme}://{host}{slash}{path}"


class BackupCoordinator:
    """Runs at most one backup at a time.

    A request that arrives while a backup runs waits for it and shares its result (`join=True`, the HTTP endpoint);
    the supervisor's final backup waits for it and then runs its own (`join=False`), so it sees the last memories.
    Once `close()`d (stopping, or fenced) it runs nothing and answers Failed with the reason.
    """

    def __init__(self, run_backup: Callable[[], BackupResult], metrics: RuntimeMetrics) -> None:
        self._run_backup = run_backup
        self._metrics = metrics
        self._cond = threading.Condition()
        self._running = False
        self._generation = 0
        self._last: BackupResult | None = None
        self._closed_reason: str | None = None
        self.runs = 0

    def backup(self, join: bool = True, label: str = "backup") -> BackupResult:
        """Run (or join) a backup; `label` names it in the one log line it gets."""
        with self._cond:
            if self._closed_reason is not None:
                return _failed(self._closed_reason)
            if self._running and join:
                return self._wait_for_running()
            while self._running:
                self._cond.wait()
            if self._closed_reason is not None:
                return _failed(self._closed_reason)
            self._running = True
        result = self._run_once(label)
        with self._cond:
            self._running = False
            self._generation += 1
            self._last = result
            self._cond.notify_all()
        return result

    @contextmanager
    def quiet(self) -> Iterator[bool]:
        """Hold off new backups for a moment; yields True when none is running (so none of its subprocesses live)."""
        with self._cond:
            yield not self._running

    def close(self, reason: str) -> None:
        """Refuse every later backup with `reason`; a backup already running finishes."""
        with self._cond:
            self._closed_reason = reason

    def _wait_for_running(self) -> BackupResult:
        generation = self._generation
        while self._generation == generation:
            self._cond.wait()
        assert self._last is not None
        return self._last

    def _run_once(self, label: str) -> BackupResult:
        self.runs += 1
        try:
            result = self._run_backup()
        except RobotError as error:
            result = _failed(str(error))
        except Exception as error:  # a bug must not kill the endpoint: report its kind, never its text
            LOG.exception("backup raised an unexpected %s", type(error).__name__)
            result = _failed(f"backup failed unexpectedly ({type(error).__name__}); see the robot's log")
        self._metrics.record_backup(result, time.time())
        level = logging.INFO if result.ok else logging.ERROR
        LOG.log(level, "%s: %s %s %s", label, result.result, result.commit or "-", result.message)
        return result


def bearer_token_matches(authorization: str | None, token: str) -> bool:
    """Constant-time check of an `Authorization: Bearer <token>` header against the configured token."""
    if not token or not authorization:
        return False
    scheme, _, presented = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())


def parse_control_addr(addr: str) -> tuple[str, int, socket.AddressFamily]:
    """`HOST:PORT`, `:PORT` (all IPv4 addresses) or `[IPV6]:PORT` -> (host, port, address family)."""
    host, sep, port_text = addr.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise RobotError("ROBOT_CONTROL_ADDR must be HOST:PORT, :PORT or [IPV6]:PORT with a port 0-65535")
    if host.startswith("[") and host.endswith("]"):
        return host[1:-1], int(port_text), socket.AF_INET6
    if ":" in host:
        raise RobotError("ROBOT_CONTROL_ADDR: write an IPv6 host in brackets, e.g. [::1]:8080")
    return host or "0.0.0.0", int(port_text), socket.AF_INET


class ControlState(Protocol):
    """What the endpoint asks of the supervisor."""

    token: str
    metrics: RuntimeMetrics
    backups: BackupCoordinator

    def is_ready(self) -> bool: ...

    def backup_refusal(self) -> str | None: ...


class ControlServer:
    """The HTTP endpoint in a daemon thread: /healthz, /readyz, POST /backup, /metrics."""

    def __init__(self, addr: str, state: ControlState) -> None:
        host, port, family = parse_control_addr(addr)
        server_class = type("_Server", (ThreadingHTTPServer,), {"address_family": family, "daemon_threads": True})
        handler = type("_Handler", (_ControlHandler,), {"state": state})
        try:
            self._server: ThreadingHTTPServer = server_class((host, port), handler)
        except OSError as error:
            raise RobotError(f"ROBOT_CONTROL_ADDR {addr}: cannot listen: {error.strerror}") from None
        self._thread = threading.Thread(target=self._server.serve_forever, name="control", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _ControlHandler(BaseHTTPRequestHandler):
    state: ControlState
    server_version = "robot-runtime"
    sys_version = ""

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._reply(200, b"ok\n", "text/plain; charset=utf-8")
        elif self.path == "/readyz":
            ready = self.state.is_ready()
            self._reply(200 if ready else 503, b"ready\n" if ready else b"not ready\n", "text/plain; charset=utf-8")
        elif self.path == "/metrics":
            self._reply(200, self.state.metrics.render(), CONTENT_TYPE)
        elif self.path == "/backup":
            self._reply(405, b"use POST\n", "text/plain; charset=utf-8", {"Allow": "POST"})
        else:
            self._reply(404, b"not found\n", "text/plain; charset=utf-8")

    def do_POST(self) -> None:
        if self.path != "/backup":
            self._reply(404, b"not found\n", "text/plain; charset=utf-8")
            return
        refusal = self._authorization_refusal()
        if refusal is not None:
            status, message = refusal
            LOG.warning("refused POST /backup from %s: %s", self.client_address[0], message)
            self._reply_result(status, _failed(message), {"WWW-Authenticate": "Bearer"} if status == 401 else {})
            return
        not_now = self.state.backup_refusal()
        if not_now is not None:
            self._reply_result(503, _failed(not_now))
            return
        result = self.state.backups.backup(join=True)
        self._reply_result(200 if result.ok else 500, result)

    def _authorization_refusal(self) -> tuple[int, str] | None:
        if not self.state.token:
            return 503, "backups over HTTP are disabled: ROBOT_CONTROL_TOKEN is not set"
        header = self.headers.get("Authorization")
        if header is None:
            return 401, "missing Authorization: Bearer token"
        if not bearer_token_matches(header, self.state.token):
            return 403, "wrong bearer token"
        return None

    def _reply_result(self, status: int, result: BackupResult, headers: dict[str, str] | None = None) -> None:
        self._reply(status, result.to_json().encode() + b"\n", "application/json", headers)

    def _reply(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Probes would flood the log: requests are logged where they matter (backups), not here."""
