"""`robot-runtime`: exit codes, one-line errors, encrypt/decrypt on a temp robot home, the backup output contract."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from robot_runtime import cli, crypto
from robot_runtime.results import BackupResult

ENCRYPTION_KEY = "cli-test-encryption-key-0123456789abcdef"
WRONG_KEY = "a-wrong-but-long-enough-encryption-key-000"
TOKEN = "control-token-for-tests-0123456789"
ROBOT_VARIABLES = (
    "ROBOT_HOME",
    "ROBOT_KNOWN_HOSTS",
    "ROBOT_LOG_LEVEL",
    "ROBOT_CONTROL_TOKEN",
    "ROBOT_BACKUP_REMOTE",
    "ROBOT_RESULT_FILE",
    "ROBOT_BACKUP_TIMEOUT",
    "ROBOT_RESTORE_FORCE",
    "GOPHER_ENCRYPTION_KEY",
    "GOPHER_ENVIRONMENT",
    "GOPHER_CUSTOM_REPOSITORY",
    "GOPHER_DEPLOY_KEY",
)


@pytest.fixture
def robot_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, bytes]]:
    """A robot home with custom/binary-encrypted-key, and a clean environment pointing at it."""
    for name in ROBOT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    key, text = crypto.new_binary_encrypted_key(ENCRYPTION_KEY)
    (tmp_path / "custom").mkdir()
    (tmp_path / "custom" / "binary-encrypted-key").write_text(text + "\n")
    monkeypatch.setenv("ROBOT_HOME", str(tmp_path))
    monkeypatch.setenv("GOPHER_ENCRYPTION_KEY", ENCRYPTION_KEY)
    yield tmp_path, key
    logging.getLogger().handlers.clear()


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("robot-runtime: ")
    assert "Traceback" not in stderr
    return lines[0]


# --- encrypt / decrypt ----------------------------------------------------------------------------------------------


def test_encrypt_prints_a_value_the_runtime_key_opens(
    robot_home: tuple[Path, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    _, key = robot_home
    assert cli.main(["encrypt", "s3cret phrase"]) == 0
    value = capsys.readouterr().out.strip()
    assert crypto.decrypt_value(key, value) == "s3cret phrase"


def test_decrypt_prints_the_text(robot_home: tuple[Path, bytes], capsys: pytest.CaptureFixture[str]) -> None:
    _, key = robot_home
    assert cli.main(["decrypt", crypto.encrypt_value(key, "hello robot")]) == 0
    assert capsys.readouterr().out == "hello robot\n"


def test_encrypt_reads_stdin_so_secrets_stay_out_of_argv(
    robot_home: tuple[Path, bytes], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, key = robot_home
    monkeypatch.setattr(sys, "stdin", _Stdin("from stdin\n"))
    assert cli.main(["encrypt"]) == 0
    assert crypto.decrypt_value(key, capsys.readouterr().out.strip()) == "from stdin"


def test_file_round_trip_through_the_cli(robot_home: tuple[Path, bytes], tmp_path: Path) -> None:
    home, key = robot_home
    memory = tmp_path / "memory.json"
    memory.write_bytes(b'{"Items":["bananas"]}')
    env = {**os.environ, "ROBOT_HOME": str(home), "GOPHER_ENCRYPTION_KEY": ENCRYPTION_KEY}
    encrypted = run_module(["encrypt", "-f", str(memory)], env)
    assert encrypted.returncode == 0, encrypted.stderr
    assert encrypted.stdout.startswith("#GOPHERBOT-BASE64-DATA\n")
    assert crypto.decode_file(key, encrypted.stdout.encode()) == memory.read_bytes()
    stored = tmp_path / "brain-file"
    stored.write_text(encrypted.stdout)
    decrypted = run_module(["decrypt", "-f", str(stored)], env)
    assert decrypted.returncode == 0, decrypted.stderr
    assert decrypted.stdout == memory.read_text()


def test_home_flag_after_the_subcommand(
    robot_home: tuple[Path, bytes], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home, key = robot_home
    monkeypatch.setenv("ROBOT_HOME", "/nonexistent")
    assert cli.main(["decrypt", "--home", str(home), crypto.encrypt_value(key, "x")]) == 0
    assert capsys.readouterr().out == "x\n"


def test_environment_selects_its_key_file(
    robot_home: tuple[Path, bytes], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home, _ = robot_home
    staging_key, text = crypto.new_binary_encrypted_key(ENCRYPTION_KEY)
    (home / "custom" / "binary-encrypted-key.staging").write_text(text)
    monkeypatch.setenv("GOPHER_ENVIRONMENT", "staging")
    assert cli.main(["encrypt", "x"]) == 0
    assert crypto.decrypt_value(staging_key, capsys.readouterr().out.strip()) == "x"


# --- bad input: one line, exit 1, no secret ---------------------------------------------------------------------------


def test_wrong_encryption_key_is_one_line_without_the_key(
    robot_home: tuple[Path, bytes], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOPHER_ENCRYPTION_KEY", WRONG_KEY)
    assert cli.main(["encrypt", "x"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    line = one_error_line(captured.err)
    assert line == "robot-runtime: GOPHER_ENCRYPTION_KEY does not match custom/binary-encrypted-key"
    assert WRONG_KEY[:32] not in captured.err


def test_short_key_via_subprocess(robot_home: tuple[Path, bytes]) -> None:
    home, _ = robot_home
    short = "short-key-value-do-not-print"
    result = run_module(["decrypt", "AAAA"], {**os.environ, "ROBOT_HOME": str(home), "GOPHER_ENCRYPTION_KEY": short})
    assert result.returncode == 1
    assert one_error_line(result.stderr) == "robot-runtime: GOPHER_ENCRYPTION_KEY is shorter than 32 bytes"
    assert short not in result.stderr + result.stdout


def test_missing_key_via_subprocess(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ROBOT_VARIABLES}
    result = run_module(["--home", str(tmp_path), "encrypt", "x"], env)
    assert result.returncode == 1
    assert one_error_line(result.stderr).startswith("robot-runtime: GOPHER_ENCRYPTION_KEY is not set")


def test_missing_key_file_is_named(robot_home: tuple[Path, bytes], capsys: pytest.CaptureFixture[str]) -> None:
    home, _ = robot_home
    (home / "custom" / "binary-encrypted-key").unlink()
    assert cli.main(["decrypt", "AAAA"]) == 1
    assert one_error_line(capsys.readouterr().err).startswith("robot-runtime: custom/binary-encrypted-key is missing")


@pytest.mark.parametrize("value", ["not-base64!!", "AAAA", "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="])
def test_corrupt_value_is_one_line(
    robot_home: tuple[Path, bytes], capsys: pytest.CaptureFixture[str], value: str
) -> None:
    assert cli.main(["decrypt", value]) == 1
    assert one_error_line(capsys.readouterr().err).startswith("robot-runtime: BASE64 value: ")


def test_corrupt_file_is_named(
    robot_home: tuple[Path, bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken"
    broken.write_text("#GOPHERBOT-BASE64-DATA\nAAAA\n")
    assert cli.main(["decrypt", "-f", str(broken)]) == 1
    assert one_error_line(capsys.readouterr().err).startswith(f"robot-runtime: {broken}: ")


def test_missing_input_file_is_named(robot_home: tuple[Path, bytes], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["encrypt", "-f", "/nonexistent/file"]) == 1
    assert (
        one_error_line(capsys.readouterr().err)
        == "robot-runtime: cannot read /nonexistent/file (No such file or directory)"
    )


def test_text_and_file_together_is_a_usage_error(
    robot_home: tuple[Path, bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["encrypt", "x", "-f", "y"]) == 2
    one_error_line(capsys.readouterr().err)


def test_unknown_command_is_a_one_line_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["fly"]) == 2
    assert "invalid choice" in one_error_line(capsys.readouterr().err)


def test_no_command_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "usage: robot-runtime" in capsys.readouterr().err


def test_bad_log_level_is_named(robot_home: tuple[Path, bytes], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--log-level", "loud", "encrypt", "x"]) == 1
    assert one_error_line(capsys.readouterr().err).startswith("robot-runtime: ROBOT_LOG_LEVEL (--log-level)")


def test_bad_restore_force_env_is_named(
    robot_home: tuple[Path, bytes], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROBOT_RESTORE_FORCE", "perhaps")
    assert cli.main(["restore"]) == 1
    assert one_error_line(capsys.readouterr().err) == "robot-runtime: ROBOT_RESTORE_FORCE must be true or false"


def test_quoted_env_value_is_named(
    robot_home: tuple[Path, bytes], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOPHER_ENCRYPTION_KEY", f'"{ENCRYPTION_KEY}"')
    assert cli.main(["encrypt", "x"]) == 1
    err = capsys.readouterr().err
    assert one_error_line(err).startswith("robot-runtime: GOPHER_ENCRYPTION_KEY is wrapped in quotes")
    assert ENCRYPTION_KEY not in err


def test_interrupt_exits_130(robot_home: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted() -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(sys, "stdin", _Stdin(""))
    monkeypatch.setattr(cli, "read_stdin_text", interrupted)
    assert cli.main(["encrypt"]) == 130


# --- backup output contract -----------------------------------------------------------------------------------------


class _BackupHandler(BaseHTTPRequestHandler):
    seen_authorization: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        _BackupHandler.seen_authorization.append(self.headers.get("Authorization", ""))
        ok = self.headers.get("Authorization") == f"Bearer {TOKEN}"
        result = BackupResult("Pushed", "0123abcd", "pushed 1 file") if ok else BackupResult("Failed", None, "no")
        body = result.to_json().encode()
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def control_server() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 standing in for the supervisor's POST /backup."""
    server = HTTPServer(("127.0.0.1", 0), _BackupHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_remote_backup_prints_one_json_line_and_writes_result_file(
    robot_home: tuple[Path, bytes],
    control_server: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROBOT_CONTROL_TOKEN", TOKEN)
    result_file = tmp_path / "termination-log"
    assert cli.main(["backup", "--remote", control_server, "--result-file", str(result_file), "--timeout", "10"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 1
    assert BackupResult.from_json(lines[0]) == BackupResult("Pushed", "0123abcd", "pushed 1 file")
    assert json.loads(result_file.read_text()) == json.loads(lines[0])
    assert _BackupHandler.seen_authorization[-1] == f"Bearer {TOKEN}"
    assert TOKEN not in captured.out + captured.err


def test_remote_backup_env_mirrors(
    robot_home: tuple[Path, bytes],
    control_server: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROBOT_CONTROL_TOKEN", TOKEN)
    monkeypatch.setenv("ROBOT_BACKUP_REMOTE", control_server)
    monkeypatch.setenv("ROBOT_RESULT_FILE", str(tmp_path / "result.json"))
    assert cli.main(["backup"]) == 0
    assert BackupResult.from_json((tmp_path / "result.json").read_text()).result == "Pushed"
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_remote_backup_without_token_fails_with_json(
    robot_home: tuple[Path, bytes], control_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["backup", "--remote", control_server]) == 1
    captured = capsys.readouterr()
    assert BackupResult.from_json(captured.out.strip()).result == "Failed"
    assert one_error_line(captured.err).startswith("robot-runtime: ROBOT_CONTROL_TOKEN is not set")


def test_remote_backup_wrong_token_exits_1(
    robot_home: tuple[Path, bytes],
    control_server: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROBOT_CONTROL_TOKEN", "not-the-token-at-all")
    assert cli.main(["backup", "--remote", control_server]) == 1
    out = capsys.readouterr().out
    assert BackupResult.from_json(out.strip()).result == "Failed"
    assert "not-the-token-at-all" not in out


@pytest.mark.parametrize("timeout", ["0", "-1", "soon", "inf"])
def test_bad_timeout_is_named(
    robot_home: tuple[Path, bytes], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, timeout: str
) -> None:
    monkeypatch.setenv("ROBOT_CONTROL_TOKEN", TOKEN)
    assert cli.main(["backup", "--remote", "http://127.0.0.1:9", "--timeout", timeout]) == 1
    captured = capsys.readouterr()
    assert BackupResult.from_json(captured.out.strip()).result == "Failed"
    assert "ROBOT_BACKUP_TIMEOUT (--timeout)" in one_error_line(captured.err)


def test_local_backup_of_an_empty_home_is_one_failed_json_line(robot_home: tuple[Path, bytes], tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ROBOT_VARIABLES}
    result = run_module(["backup", "--home", str(tmp_path / "empty")], env)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert BackupResult.from_json(lines[0]).result == "Failed"
    assert "Traceback" not in result.stderr


# --- logging --------------------------------------------------------------------------------------------------------


def test_logging_is_one_line_and_redacts_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    env = {"GOPHER_ENCRYPTION_KEY": ENCRYPTION_KEY, "ROBOT_CONTROL_TOKEN": TOKEN}
    try:
        cli.configure_logging("info", env)
        logger = logging.getLogger("robot_runtime.test")
        logger.info("token %s and key %s\nsecond line", TOKEN, ENCRYPTION_KEY)
        logger.info("cloning https://robot:pa55word@127.0.0.1/floyd.git")
        logger.debug("hidden at INFO")
        try:
            raise ValueError(f"boom {ENCRYPTION_KEY[:32]}")
        except ValueError:
            logger.exception("failed")
    finally:
        logging.getLogger().handlers.clear()
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines[0] == "INFO robot_runtime.test: token *** and key *** second line"
    assert lines[1] == "INFO robot_runtime.test: cloning https://127.0.0.1/floyd.git"
    assert lines[2].startswith("ERROR robot_runtime.test: failed (ValueError: boom")
    assert len(lines) == 3
    assert TOKEN not in err
    assert ENCRYPTION_KEY[:32] not in err


# --- helpers --------------------------------------------------------------------------------------------------------


class _Stdin:
    def __init__(self, text: str) -> None:
        self._text = text

    def read(self) -> str:
        return self._text


def run_module(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "robot_runtime", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_unexpected_backup_error_still_prints_one_failed_json_line(
    robot_home: tuple[Path, bytes], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stand-in for a bug inside backup (no real input makes one on purpose): the contract must still hold."""

    def broken(_: object) -> BackupResult:
        raise ValueError(f"internal detail with {ENCRYPTION_KEY}")

    monkeypatch.setattr(cli, "local_backup", broken)
    assert cli.main(["backup"]) == 1
    captured = capsys.readouterr()
    result = BackupResult.from_json(captured.out.strip())
    assert result == BackupResult("Failed", None, "unexpected ValueError (see the log)")
    assert ENCRYPTION_KEY not in captured.out + captured.err
    assert "Traceback" not in captured.err
