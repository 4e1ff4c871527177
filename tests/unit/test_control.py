"""Pure pieces of the control endpoint: bearer-token check, address parsing, single-flight backups, metrics text."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from robot_runtime.control import BackupCoordinator, bearer_token_matches, parse_control_addr, remote_backup
from robot_runtime.errors import RobotError
from robot_runtime.metrics import RuntimeMetrics
from robot_runtime.results import BackupResult

TOKEN = "s3cret-token-value"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"Bearer {TOKEN}", True),
        (f"bearer {TOKEN}", True),
        (f"Bearer {TOKEN} ", True),
        (f"Bearer {TOKEN}x", False),
        (f"Bearer {TOKEN[:-1]}", False),
        (f"Basic {TOKEN}", False),
        (TOKEN, False),
        ("Bearer ", False),
        ("", False),
        (None, False),
    ],
)
def test_bearer_token_matches(header: str | None, expected: bool) -> None:
    assert bearer_token_matches(header, TOKEN) is expected


def test_no_configured_token_matches_nothing() -> None:
    assert not bearer_token_matches("Bearer ", "")
    assert not bearer_token_matches("Bearer anything", "")


@pytest.mark.parametrize(
    ("addr", "expected"),
    [
        ("0.0.0.0:8080", ("0.0.0.0", 8080, socket.AF_INET)),
        ("127.0.0.1:0", ("127.0.0.1", 0, socket.AF_INET)),
        (":9000", ("0.0.0.0", 9000, socket.AF_INET)),
        ("[::1]:8080", ("::1", 8080, socket.AF_INET6)),
        ("[::]:80", ("::", 80, socket.AF_INET6)),
    ],
)
def test_parse_control_addr(addr: str, expected: tuple[str, int, socket.AddressFamily]) -> None:
    assert parse_control_addr(addr) == expected


@pytest.mark.parametrize("addr", ["8080", "host:", "host:http", "1.2.3.4:70000", "::1:8080", ""])
def test_parse_control_addr_refuses_bad_values_naming_the_variable(addr: str) -> None:
    with pytest.raises(RobotError, match="ROBOT_CONTROL_ADDR") as caught:
        parse_control_addr(addr)
    assert "\n" not in str(caught.value)


class SlowBackup:
    """A backup that blocks until released, counting how many run at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.active = 0
        self.max_active = 0
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> BackupResult:
        with self._lock:
            self.calls += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            number = self.calls
        self.started.set()
        self.release.wait(10)
        with self._lock:
            self.active -= 1
        return BackupResult("Pushed", f"commit-{number}", "pushed")


def test_concurrent_backups_join_the_running_one() -> None:
    slow = SlowBackup()
    coordinator = BackupCoordinator(slow, RuntimeMetrics())
    results: list[BackupResult] = []
    first = threading.Thread(target=lambda: results.append(coordinator.backup()))
    first.start()
    assert slow.started.wait(5)
    joiners = [threading.Thread(target=lambda: results.append(coordinator.backup())) for _ in range(4)]
    for thread in joiners:
        thread.start()
    time.sleep(0.2)
    slow.release.set()
    for thread in [first, *joiners]:
        thread.join(10)
    assert slow.calls == 1
    assert slow.max_active == 1
    assert [result.commit for result in results] == ["commit-1"] * 5


def test_final_backup_waits_for_the_running_one_then_runs_its_own() -> None:
    slow = SlowBackup()
    coordinator = BackupCoordinator(slow, RuntimeMetrics())
    results: list[BackupResult] = []
    first = threading.Thread(target=lambda: results.append(coordinator.backup()))
    first.start()
    assert slow.started.wait(5)
    final = threading.Thread(target=lambda: results.append(coordinator.backup(join=False)))
    final.start()
    time.sleep(0.2)
    slow.release.set()
    first.join(10)
    final.join(10)
    assert slow.calls == 2
    assert slow.max_active == 1
    assert sorted(result.commit or "" for result in results) == ["commit-1", "commit-2"]


def test_closed_coordinator_runs_nothing() -> None:
    calls: list[int] = []

    def backup() -> BackupResult:
        calls.append(1)
        return BackupResult("NoChanges", None, "")

    coordinator = BackupCoordinator(backup, RuntimeMetrics())
    coordinator.close("fenced: Lease lost")
    result = coordinator.backup()
    assert result.result == "Failed"
    assert result.message == "fenced: Lease lost"
    assert calls == []


def test_backup_errors_become_failed_results_without_their_text() -> None:
    def broken() -> BackupResult:
        raise ValueError(f"leaked {TOKEN}")

    def refused() -> BackupResult:
        raise RobotError("push rejected: another copy may have pushed")

    metrics = RuntimeMetrics()
    unexpected = BackupCoordinator(broken, metrics).backup()
    assert unexpected.result == "Failed"
    assert TOKEN not in unexpected.message
    assert "ValueError" in unexpected.message
    expected = BackupCoordinator(refused, metrics).backup()
    assert expected == BackupResult("Failed", None, "push rejected: another copy may have pushed")
    assert 'robot_backups_total{result="Failed"} 2.0' in metrics.render().decode()


def test_metrics_render_backups_children_and_readiness() -> None:
    metrics = RuntimeMetrics()
    metrics.record_backup(BackupResult("Pushed", "abc", "pushed"), at=1000.0)
    metrics.record_backup(BackupResult("Failed", None, "no"), at=2000.0)
    metrics.record_backup(BackupResult("NoChanges", "abc", "clean"), at=3000.0)
    metrics.record_child_start()
    metrics.record_child_start()
    metrics.child_exits.inc()
    metrics.ready.set(1)
    text = metrics.render().decode()
    lines = set(text.splitlines())
    assert 'robot_backups_total{result="Pushed"} 1.0' in lines
    assert 'robot_backups_total{result="NoChanges"} 1.0' in lines
    assert 'robot_backups_total{result="Failed"} 1.0' in lines
    assert "robot_last_backup_timestamp_seconds 3000.0" in lines
    assert "robot_last_successful_backup_timestamp_seconds 3000.0" in lines
    assert "robot_child_starts_total 2.0" in lines
    assert "robot_child_restarts_total 1.0" in lines
    assert "robot_child_exits_total 1.0" in lines
    assert "robot_ready 1.0" in lines


def test_failed_backup_does_not_move_the_last_success_gauge() -> None:
    metrics = RuntimeMetrics()
    metrics.record_backup(BackupResult("Pushed", "abc", ""), at=10.0)
    metrics.record_backup(BackupResult("Failed", None, ""), at=20.0)
    lines = set(metrics.render().decode().splitlines())
    assert "robot_last_backup_timestamp_seconds 20.0" in lines
    assert "robot_last_successful_backup_timestamp_seconds 10.0" in lines


def test_each_metrics_instance_has_its_own_registry() -> None:
    first, second = RuntimeMetrics(), RuntimeMetrics()
    first.ready.set(1)
    assert "robot_ready 0.0" in second.render().decode().splitlines()


def test_remote_backup_refuses_non_http_urls_without_the_token() -> None:
    result = remote_backup(f"file:///etc/passwd?{TOKEN}", TOKEN, timeout=1)
    assert result.result == "Failed"
    assert "not an http" in result.message
    assert TOKEN not in result.message
