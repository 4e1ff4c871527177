"""`robot-runtime` end to end as a process: bootstrap, backup, restore, encrypt/decrypt on real repositories."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from robot_runtime import crypto
from robot_runtime.results import BackupResult
from tests.git.conftest import ENCRYPTION_KEY, RobotRepo, make_robot_repo
from tests.robotkit import encode_env_key, read_memory, write_memory

MEMORY = '{"Items":["bananas","bread"]}'


def runtime(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "robot_runtime", *args], env=env, capture_output=True, text=True, timeout=120
    )


def robot_env(repo: RobotRepo, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOPHER_", "ROBOT_"))}
    env.update(
        ROBOT_HOME=str(home),
        GOPHER_CUSTOM_REPOSITORY=repo.file_url,
        GOPHER_DEPLOY_KEY=encode_env_key(repo.deploy_key.private_openssh),
        GOPHER_ENCRYPTION_KEY=ENCRYPTION_KEY,
    )
    return env


def backup_result(done: subprocess.CompletedProcess[str]) -> BackupResult:
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout + done.stderr
    return BackupResult.from_json(lines[0])


def test_bootstrap_backup_restore_through_the_cli(tmp_path: Path) -> None:
    repo = make_robot_repo(tmp_path / "remote")
    first = tmp_path / "first"
    env = robot_env(repo, first)

    booted = runtime(["bootstrap"], env)
    assert booted.returncode == 0, booted.stderr
    assert (first / "custom" / "conf" / "robot.yaml").is_file()

    write_memory(first / "state" / "brain", repo.config.runtime_key, "bot:groceries", MEMORY)
    pushed = runtime(["backup", "--result-file", str(tmp_path / "result.json")], env)
    result = backup_result(pushed)
    assert (pushed.returncode, result.result) == (0, "Pushed"), pushed.stderr
    assert result.commit == repo.remote_commit("robot-state")
    assert BackupResult.from_json((tmp_path / "result.json").read_text()) == result

    again = runtime(["backup"], env)
    assert (again.returncode, backup_result(again).result) == (0, "NoChanges")

    second = tmp_path / "second"
    cloned = runtime(["bootstrap"], robot_env(repo, second))
    assert cloned.returncode == 0, cloned.stderr
    assert read_memory(second / "state" / "brain" / "bot:groceries", repo.config.runtime_key) == MEMORY

    refused = runtime(["restore"], env)
    assert refused.returncode == 1
    assert len(refused.stderr.strip().splitlines()) == 1
    assert refused.stderr.startswith("robot-runtime: ")
    forced = runtime(["restore", "--force"], env)
    assert forced.returncode == 0, forced.stderr
    assert len(forced.stdout.strip().splitlines()) == 1
    assert read_memory(first / "state" / "brain" / "bot:groceries", repo.config.runtime_key) == MEMORY


def test_encrypt_decrypt_with_a_cloned_configuration(tmp_path: Path) -> None:
    repo = make_robot_repo(tmp_path / "remote")
    home = tmp_path / "home"
    env = robot_env(repo, home)
    assert runtime(["bootstrap"], env).returncode == 0
    encrypted = runtime(["encrypt", "a token for the chat"], env)
    assert encrypted.returncode == 0, encrypted.stderr
    assert crypto.decrypt_value(repo.config.runtime_key, encrypted.stdout.strip()) == "a token for the chat"
    decrypted = runtime(["decrypt", encrypted.stdout.strip()], env)
    assert decrypted.stdout == "a token for the chat\n"


def test_cli_errors_never_print_the_secrets(tmp_path: Path) -> None:
    repo = make_robot_repo(tmp_path / "remote")
    home = tmp_path / "home"
    env = robot_env(repo, home)
    assert runtime(["bootstrap"], env).returncode == 0
    wrong_key = {**env, "GOPHER_ENCRYPTION_KEY": "W" * 40}
    broken_deploy_key = {
        **env,
        "ROBOT_HOME": str(tmp_path / "fresh"),
        "GOPHER_CUSTOM_REPOSITORY": "ssh://git@127.0.0.1:9/robot.git",
        "GOPHER_DEPLOY_KEY": env["GOPHER_DEPLOY_KEY"][:-50],
    }
    cases = [
        (["encrypt", "x"], wrong_key, "GOPHER_ENCRYPTION_KEY does not match custom/binary-encrypted-key"),
        (["decrypt", "AAAA"], wrong_key, "GOPHER_ENCRYPTION_KEY does not match custom/binary-encrypted-key"),
        (["bootstrap"], broken_deploy_key, "GOPHER_DEPLOY_KEY is not a private key"),
    ]
    for args, case_env, expected in cases:
        done = runtime(args, case_env)
        assert done.returncode == 1, args
        output = done.stdout + done.stderr
        assert expected in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
        assert "W" * 32 not in output
        assert env["GOPHER_DEPLOY_KEY"][40:80] not in output
        assert "Traceback" not in output
