"""`robot-runtime run` as a real process: a real robot repository, the memory bot as its child, HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from robot_runtime.control import remote_backup
from robot_runtime.results import BackupResult
from tests.bots.harness import BOT, ROOT, RUNTIME, TOKEN, WAIT_S, Runtime, wait_for
from tests.git.conftest import ENCRYPTION_KEY, RobotRepo, git

STATE_BRANCH = "robot-state"


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
        assert runtime.env()["GOPHER_DEPLOY_KEY"] not in runtime.log_text(), "the deploy key leaked into the output"


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
