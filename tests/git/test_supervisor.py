"""`robot-runtime run` as a real process: a real robot repository, the memory bot as its child, HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from robot_runtime.control import remote_backup
from robot_runtime.results import BackupResult
from tests.git.conftest import ENCRYPTION_KEY, RobotRepo, git
from tests.robotkit import encode_env_key

ROOT = Path(__file__).resolve().parents[2]
BOT = ROOT / "tests" / "bots" / "memory_bot.py"
TOKEN = "control-token-for-supervisor-tests-0123456789"
STATE_BRANCH = "robot-state"
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
            "10",
            *self.extra_args,
            "--",
            *self.command,
        ]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=self.env(), cwd=ROOT)
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

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def request(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=20) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def remote_file(repo: RobotRepo, commit: str, path: str) -> str:
    return git("-C", str(repo.bare), "show", f"{commit}:{path}")


def remote_commit_count(repo: RobotRepo) -> int:
    return int(git("-C", str(repo.bare), "rev-list", "--count", f"refs/heads/{STATE_BRANCH}").strip())


@pytest.fixture
def runtime(robot_repo: RobotRepo, tmp_path: Path) -> Iterator[Callable[..., Runtime]]:
    started: list[Runtime] = []

    def start(**kwargs: Any) -> Runtime:
        runtime = Runtime(
            home=tmp_path / f"home{len(started)}", repo=robot_repo, log=tmp_path / "runtime.log", **kwargs
        )
        started.append(runtime)
        return runtime.start()

    yield start
    for runtime in started:
        runtime.stop()
    for runtime in started:
        assert TOKEN not in runtime.log_text(), "the control token leaked into the runtime's output"
        assert ENCRYPTION_KEY not in runtime.log_text(), "the encryption key leaked into the runtime's output"


def test_health_readiness_token_checked_backup_metrics_and_final_backup(
    runtime: Callable[..., Runtime], robot_repo: RobotRepo
) -> None:
    robot = runtime()
    wait_for(lambda: robot._status("/healthz") == 200, "/healthz")
    robot.wait_ready()
    started = json.loads((robot.home / "bot-started.json").read_text())
    assert started["cwd"] == str(robot.home)
    assert started["sees_control_token"] is False

    assert robot.post_backup()[0] == 401
    status, body = robot.post_backup("wrong-token")
    assert status == 403
    assert body["result"] == "Failed"
    assert robot.get("/backup")[0] == 405
    assert robot.get("/nope")[0] == 404

    robot.remember("memory_bot:favourite", "blue")
    status, body = robot.post_backup(TOKEN)
    assert status == 200, body
    assert body["result"] == "Pushed"
    assert body["commit"] == robot_repo.remote_commit(STATE_BRANCH)
    assert remote_file(robot_repo, body["commit"], "brain/memory_bot:favourite") == "blue"

    again = remote_backup(robot.url, TOKEN, timeout=20)
    assert again == BackupResult("NoChanges", body["commit"], again.message)
    refused = remote_backup(robot.url, "wrong-token", timeout=20)
    assert refused.result == "Failed"
    assert "403" in refused.message
    assert "wrong-token" not in refused.message

    metrics = robot.get("/metrics")[1].decode().splitlines()
    assert 'robot_backups_total{result="Pushed"} 1.0' in metrics
    assert 'robot_backups_total{result="NoChanges"} 1.0' in metrics
    assert "robot_ready 1.0" in metrics
    assert "robot_child_starts_total 1.0" in metrics

    robot.remember("memory_bot:last-thing", "said before SIGTERM")
    robot.signal(signal.SIGTERM)
    assert robot.wait() == 0, robot.log_text()
    final = robot_repo.remote_commit(STATE_BRANCH)
    assert final is not None
    assert final != body["commit"]
    assert remote_file(robot_repo, final, "brain/memory_bot:last-thing") == "said before SIGTERM"
    assert remote_file(robot_repo, final, "brain/memory_bot:last-words") == "stopped after 0 signals"
    assert "final backup: Pushed" in robot.log_text()


def test_concurrent_backups_never_run_two_at_once(runtime: Callable[..., Runtime], robot_repo: RobotRepo) -> None:
    robot = runtime()
    robot.wait_ready()
    for number in range(50):
        robot.remember(f"memory_bot:item{number}", "x" * 1000 * number)
    results: list[tuple[int, dict[str, Any]]] = []
    threads = [threading.Thread(target=lambda: results.append(robot.post_backup(TOKEN))) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    assert [status for status, _ in results] == [200] * 6
    commits = {body["commit"] for _, body in results}
    assert commits == {robot_repo.remote_commit(STATE_BRANCH)}
    assert remote_commit_count(robot_repo) == 1
    pushed = [body for _, body in results if body["result"] == "Pushed"]
    assert len(pushed) >= 1
    metrics = robot.get("/metrics")[1].decode().splitlines()
    assert 'robot_backups_total{result="Pushed"} 1.0' in metrics
    assert 'robot_backups_total{result="Failed"} 0.0' in metrics


def test_child_that_dies_is_backed_up_and_the_runtime_exits_non_zero(
    runtime: Callable[..., Runtime], robot_repo: RobotRepo
) -> None:
    robot = runtime()
    robot.wait_ready()
    robot.remember("memory_bot:before-crash", "keep me")
    (robot.home / "inbox" / "EXIT").write_text("7")
    assert robot.wait() == 7, robot.log_text()
    final = robot_repo.remote_commit(STATE_BRANCH)
    assert final is not None
    assert remote_file(robot_repo, final, "brain/memory_bot:before-crash") == "keep me"
    assert "exited on its own with status 7" in robot.log_text()


def test_stubborn_child_is_killed_after_the_stop_timeout(runtime: Callable[..., Runtime]) -> None:
    robot = runtime(extra_env={"MEMORY_BOT_IGNORE_TERM": "1"}, extra_args=["--stop-timeout", "1"])
    robot.wait_ready()
    began = time.monotonic()
    robot.signal(signal.SIGTERM)
    assert robot.wait() == 128 + signal.SIGKILL
    assert time.monotonic() - began < 15
    assert "sending SIGKILL" in robot.log_text()


def test_without_a_token_every_backup_request_is_refused(runtime: Callable[..., Runtime]) -> None:
    robot = runtime(token=None)
    robot.wait_ready()
    for token in (None, "", "anything"):
        status, body = robot.post_backup(token)
        assert status == 503
        assert "ROBOT_CONTROL_TOKEN is not set" in body["message"]


def test_serves_on_ipv6_loopback(runtime: Callable[..., Runtime]) -> None:
    robot = runtime(host="::1")
    robot.wait_ready()
    assert robot.get("/healthz") == (200, b"ok\n")


def test_bootstrap_failure_is_one_line_and_never_starts_the_child(runtime: Callable[..., Runtime]) -> None:
    robot = runtime(extra_env={"GOPHER_CUSTOM_REPOSITORY": "file:///nonexistent/robot.git"})
    assert robot.wait() == 1
    log = robot.log_text()
    assert "bootstrap failed" in log
    assert "Traceback" not in log
    assert not (robot.home / "bot-started.json").exists()


def test_bad_control_address_is_refused_naming_the_variable(robot_repo: RobotRepo, tmp_path: Path) -> None:
    robot = Runtime(home=tmp_path / "home", repo=robot_repo, log=tmp_path / "unused.log")
    result = subprocess.run(
        [*RUNTIME, "run", "--control-addr", "nonsense", "--", sys.executable, str(BOT)],
        env=robot.env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "ROBOT_CONTROL_ADDR" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "home" / "bot-started.json").exists()


def zombies_of(parent_pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == parent_pid:
            found.append(int(stat.parent.name))
    return found


def children_of(parent_pid: int) -> list[int]:
    children = Path(f"/proc/{parent_pid}/task/{parent_pid}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def test_reaps_orphaned_zombies_when_it_is_pid_1(runtime: Callable[..., Runtime]) -> None:
    robot = runtime(wrapper=["unshare", "--pid", "--fork", "--kill-child"])
    robot.wait_ready()
    assert robot.proc is not None
    supervisor_pid = wait_for(lambda: children_of(robot.proc.pid if robot.proc else 0), "the supervisor as PID 1")[0]
    (robot.home / "inbox").mkdir(exist_ok=True)
    (robot.home / "inbox" / "ORPHAN").write_text("")
    wait_for(lambda: not (robot.home / "inbox" / "ORPHAN").exists(), "the bot to leave an orphan")
    time.sleep(1.5)
    assert zombies_of(supervisor_pid) == []
    os.kill(supervisor_pid, signal.SIGTERM)
    assert robot.wait() == 0, robot.log_text()
