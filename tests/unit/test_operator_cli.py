"""`robot-operator`: help text, flags and their environment mirrors, one-line configuration errors."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from robot_operator import cli, metrics


def settings(argv: list[str], environ: dict[str, str] | None = None) -> cli.RunSettings:
    args = cli.build_parser(environ or {}).parse_args(argv)
    return cli.settings_from(args)


def test_defaults_watch_all_namespaces() -> None:
    result = settings(["run"])
    assert result.namespaces == ()
    assert result.clusterwide
    assert result.log_format == "plain"
    assert result.liveness == "http://0.0.0.0:8081/healthz"
    assert result.metrics_addr == ":8090"
    assert result.resync_seconds == 300.0
    assert result.verbose is False


def test_environment_mirrors_every_flag() -> None:
    environ = {
        "ROBOT_OPERATOR_NAMESPACES": "bots, chat ,",
        "ROBOT_OPERATOR_LOG_FORMAT": "json",
        "ROBOT_OPERATOR_LIVENESS": "",
        "ROBOT_OPERATOR_METRICS_ADDR": "127.0.0.1:9100",
        "ROBOT_OPERATOR_RESYNC_SECONDS": "0",
        "ROBOT_OPERATOR_VERBOSE": "true",
    }
    result = settings(["run"], environ)
    assert result.namespaces == ("bots", "chat")
    assert not result.clusterwide
    assert result.log_format == "json"
    assert result.liveness == ""
    assert result.metrics_addr == "127.0.0.1:9100"
    assert result.resync_seconds == 0.0
    assert result.verbose is True


def test_flags_win_over_the_environment_and_namespace_repeats() -> None:
    result = settings(
        ["run", "--namespaces", "a", "--namespace", "b", "--namespace", "a", "--log-format", "plain"],
        {"ROBOT_OPERATOR_NAMESPACES": "env-ns", "ROBOT_OPERATOR_LOG_FORMAT": "json"},
    )
    assert result.namespaces == ("a", "b")
    assert result.log_format == "plain"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--log-format", "xml"], "--log-format (ROBOT_OPERATOR_LOG_FORMAT) must be one of plain, json, full"),
        (["run", "--liveness", "0.0.0.0:8081"], "--liveness (ROBOT_OPERATOR_LIVENESS) must be an http:// URL"),
        (["run", "--metrics-addr", "8090"], "--metrics-addr (ROBOT_OPERATOR_METRICS_ADDR): '8090' is not HOST:PORT"),
        (["run", "--resync-seconds", "soon"], "--resync-seconds (ROBOT_OPERATOR_RESYNC_SECONDS) must be a number"),
        (["run", "--resync-seconds", "-1"], "--resync-seconds (ROBOT_OPERATOR_RESYNC_SECONDS) must not be negative"),
    ],
)
def test_bad_settings_name_flag_and_variable(argv: list[str], message: str) -> None:
    with pytest.raises(cli.ConfigError) as raised:
        settings(argv)
    assert str(raised.value).startswith(message)


def test_main_prints_one_line_and_exits_1_on_bad_settings(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run"], {"ROBOT_OPERATOR_LOG_FORMAT": "yaml"}) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("robot-operator: --log-format (ROBOT_OPERATOR_LOG_FORMAT)")
    assert "Traceback" not in err


def test_help_explains_how_to_reach_a_cluster() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "robot_operator", "run", "--help"], capture_output=True, text=True, check=True
    )
    for text in (
        "KUBECONFIG",
        "in-cluster",
        "kubectl apply -f crds/robots.yaml",
        "ROBOT_OPERATOR_NAMESPACES",
        "--log-format",
        "--liveness",
        "--metrics-addr",
    ):
        assert text in result.stdout


def test_a_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        cli.main([], {})
    assert raised.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("address", "parsed"),
    [(":8090", ("0.0.0.0", 8090)), ("127.0.0.1:9", ("127.0.0.1", 9)), ("[::1]:8090", ("::1", 8090))],
)
def test_listen_addresses(address: str, parsed: tuple[str, int]) -> None:
    assert metrics.parse_listen_address(address) == parsed


@pytest.mark.parametrize("address", ["", "8090", ":0", ":65536", "host:port"])
def test_bad_listen_addresses(address: str) -> None:
    with pytest.raises(ValueError, match="is not HOST:PORT"):
        metrics.parse_listen_address(address)


def test_phase_gauge_counts_every_phase() -> None:
    metrics.set_phase_counts(["Running", "Running", "Invalid"])
    samples = {s.labels["phase"]: s.value for metric in metrics.ROBOTS_BY_PHASE.collect() for s in metric.samples}
    assert samples["Running"] == 2
    assert samples["Invalid"] == 1
    assert samples["Conflict"] == 0


def test_handler_success_lines_are_dropped_but_failures_kept() -> None:
    from robot_operator.cli import QuietHandlerSuccess

    quiet = QuietHandlerSuccess()

    def record(level: int, message: str) -> logging.LogRecord:
        return logging.LogRecord("kopf.objects", level, __file__, 1, message, None, None)

    assert not quiet.filter(record(logging.INFO, "Handler 'child_changed' succeeded."))
    assert quiet.filter(record(logging.INFO, "created Deployment robots/floyd"))
    assert quiet.filter(record(logging.ERROR, "Handler 'child_changed' failed with an exception. Will retry."))
    assert quiet.filter(record(logging.WARNING, "Handler 'x' succeeded."))
