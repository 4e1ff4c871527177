"""Run `robot-runtime run` with the memory bot as a real process, and talk to its control endpoint (test helper)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.git.conftest import ENCRYPTION_KEY, RobotRepo
from tests.robotkit import encode_env_key

ROOT = Path(__file__).resolve().parents[2]
BOT = ROOT / "tests" / "bots" / "memory_bot.py"
TOKEN = "control-token-for-supervisor-tests-0123456789"
WAIT_S = 30.0
RUNTIME = [sys.executable, "-m", "robot_runtime"]


def free_port(family: socket.AddressFamily = socket.AF_INET, host: str = "127.0.0.1") -> int:
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], Any], what: str, timeout_s: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")


@dataclass
class Runtime:
    """One `python -m robot_runtime run -- python memory_bot.py` process and its robot home."""

    home: Path
    repo: RobotRepo
    log: Path
    host: str = "127.0.0.1"
    port: int = 0
    token: str | None = TOKEN
    extra_env: dict[str, str] = field(default_factory=dict)
    extra_args: list[str] = field(default_factory=list)
    command: list[str] = field(default_factory=lambda: [sys.executable, str(BOT)])
    wrapper: list[str] = field(default_factory=list)
    stop_timeout: str = "10"
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GOPHER_", "ROBOT_", "KUBE"))}
        env.update(
            GOPHER_CUSTOM_REPOSITORY=self.repo.file_url,
            GOPHER_DEPLOY_KEY=encode_env_key(self.repo.deploy_key.private_openssh),
            GOPHER_ENCRYPTION_KEY=ENCRYPTION_KEY,
            GOPHER_PROTOCOL="terminal",
            ROBOT_HOME=str(self.home),
            PYTHONUNBUFFERED="1",
            MEMORY_BOT_LIFETIME="120",
        )
        if self.token is not None:
            env["ROBOT_CONTROL_TOKEN"] = self.token
        env.update(self.extra_env)
        return env

    def start(self) -> Runtime:
        if not self.port:
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            self.port = free_port(family, self.host)
        addr = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        argv = [
            *self.wrapper,
            *RUNTIME,
            "run",
            "--control-addr",
            addr,
            "--stop-timeout",
            self.stop_timeout,
            *self.extra_args,
            "--",
            *self.command,
        ]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, env=self.env(), cwd=ROOT, start_new_session=True
            )
        return self

    def get(self, path: str) -> tuple[int, bytes]:
        return request(self.url + path)

    def post_backup(self, token: str | None = None) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        status, body = request(self.url + "/backup", method="POST", headers=headers)
        return status, json.loads(body)

    def wait_ready(self) -> None:
        """Wait for /readyz, then for the bot to have set itself up (its signal handlers are in place)."""
        wait_for(lambda: self._status("/readyz") == 200, "/readyz of the runtime")
        marker = self.home / "bot-started.json"
        wait_for(lambda: marker.is_file() and marker.read_text(), "the bot to start")

    def _status(self, path: str) -> int:
        assert self.proc is not None
        if self.proc.poll() is not None:
            pytest.fail(f"runtime exited with {self.proc.returncode} before {path} answered:\n{self.log_text()}")
        try:
            return self.get(path)[0]
        except OSError:
            return 0

    def remember(self, name: str, text: str) -> None:
        """Ask the bot to write a memory, and wait until it is in state/brain/."""
        inbox = self.home / "inbox"
        inbox.mkdir(exist_ok=True)
        (inbox / f".{name}").write_text(text)
        (inbox / f".{name}").rename(inbox / name)
        wait_for(lambda: (self.home / "state" / "brain" / name).is_file(), f"memory {name} in state/brain")

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float = WAIT_S) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def kill_all(self) -> None:
        """SIGKILL the runtime and its child together, as when a pod's container is killed."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                return
            self.proc.wait(timeout=10)

    def bot_started(self) -> bool:
        return (self.home / "bot-started.json").is_file()

    def stop(self) -> None:
        """Teardown: whatever still runs of this runtime's process group is killed."""
        self.kill_all()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def request(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=20) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
