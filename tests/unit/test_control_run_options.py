"""The `run` subcommand's flags, their environment mirrors and the checks on them (no process is started)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from robot_runtime import supervisor
from robot_runtime.errors import RobotError
from robot_runtime.supervisor import DEFAULT_COMMAND, RunOptions, options_from_args


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="robot-runtime")
    supervisor.register(parser.add_subparsers())
    return parser.parse_args(["run", *argv])


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "ROBOT_CONTROL_ADDR",
        "ROBOT_STOP_TIMEOUT",
        "ROBOT_LEASE_NAME",
        "ROBOT_LEASE_NAMESPACE",
        "ROBOT_LEASE_DURATION",
        "ROBOT_SKIP_BOOTSTRAP",
        "ROBOT_CONTROL_TOKEN",
        "POD_NAMESPACE",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervisor, "in_cluster_namespace", lambda: None)
    options = options_from_args(parse([]), {})
    assert options == RunOptions(
        command=[DEFAULT_COMMAND],
        control_addr="0.0.0.0:8080",
        stop_timeout=60.0,
        token="",
        skip_bootstrap=False,
        lease_name="",
        lease_namespace="",
        lease_duration=15.0,
    )
    assert parse([]).func is supervisor.run


def test_environment_mirrors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBOT_CONTROL_ADDR", "[::1]:9090")
    monkeypatch.setenv("ROBOT_STOP_TIMEOUT", "5")
    monkeypatch.setenv("ROBOT_LEASE_NAME", "floyd")
    monkeypatch.setenv("ROBOT_LEASE_NAMESPACE", "bots")
    monkeypatch.setenv("ROBOT_LEASE_DURATION", "9")
    monkeypatch.setenv("ROBOT_SKIP_BOOTSTRAP", "true")
    options = options_from_args(parse([]), {"ROBOT_CONTROL_TOKEN": " tok \n"})
    assert (options.control_addr, options.stop_timeout, options.skip_bootstrap) == ("[::1]:9090", 5.0, True)
    assert (options.lease_name, options.lease_namespace, options.lease_duration) == ("floyd", "bots", 9.0)
    assert options.token == "tok"


def test_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBOT_STOP_TIMEOUT", "5")
    monkeypatch.setenv("ROBOT_LEASE_NAME", "floyd")
    options = options_from_args(parse(["--stop-timeout", "7", "--lease-name", "other", "--lease-namespace", "ns"]), {})
    assert (options.stop_timeout, options.lease_name) == (7.0, "other")


def test_command_after_double_dash_keeps_its_own_flags() -> None:
    options = options_from_args(parse(["--lease-namespace", "ns", "--", "python", "bot.py", "--stop-timeout", "1"]), {})
    assert options.command == ["python", "bot.py", "--stop-timeout", "1"]
    assert options.stop_timeout == 60.0


def test_lease_namespace_defaults_to_the_pods(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(supervisor, "in_cluster_namespace", lambda: None)
    assert options_from_args(parse(["--lease-name", "x"]), {"POD_NAMESPACE": "from-env"}).lease_namespace == "from-env"
    monkeypatch.setattr(supervisor, "in_cluster_namespace", lambda: "from-file")
    assert options_from_args(parse(["--lease-name", "x"]), {"POD_NAMESPACE": "from-env"}).lease_namespace == "from-file"


@pytest.mark.parametrize("value", ["abc", "-1", "inf", "nan"])
def test_bad_seconds_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    monkeypatch.setenv("ROBOT_STOP_TIMEOUT", value)
    with pytest.raises(SystemExit):
        parse([])
    assert "ROBOT_STOP_TIMEOUT (--stop-timeout) must be" in capsys.readouterr().err


def test_too_short_lease_duration_is_refused() -> None:
    with pytest.raises(RobotError, match="ROBOT_LEASE_DURATION"):
        options_from_args(parse(["--lease-name", "floyd", "--lease-duration", "2"]), {})


def test_lease_without_any_namespace_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervisor, "in_cluster_namespace", lambda: None)
    options = options_from_args(parse(["--lease-name", "floyd"]), {})
    with pytest.raises(RobotError, match="ROBOT_LEASE_NAMESPACE"):
        supervisor._lease_keeper(options, {})
