"""Pure parts of the git side: URL kinds, ssh options, error wording and redaction, where state lives."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from dulwich.client import LocalGitClient, SSHGitClient, SubprocessSSHVendor

from robot_runtime.access import state_location
from robot_runtime.gitops import Remote, open_client
from robot_runtime.settings import Settings
from robot_runtime.ssh import SshIdentity, explain_failure, is_local_url, is_ssh_url, remote_error, ssh_command


@pytest.mark.parametrize(
    ("url", "ssh", "local"),
    [
        ("git@github.example:org/robot.git", True, False),
        ("github.example:org/robot.git", True, False),
        ("ssh://git@127.0.0.1:2222/srv/robot.git", True, False),
        ("git+ssh://git@host/robot.git", True, False),
        ("file:///srv/git/robot.git", False, True),
        ("/srv/git/robot.git", False, True),
        ("./robot.git", False, True),
        ("https://token@host/robot.git", False, False),
    ],
)
def test_url_kinds(url: str, ssh: bool, local: bool) -> None:
    assert is_ssh_url(url) is ssh
    assert is_local_url(url) is local


def test_ssh_command_is_strict_and_ignores_user_config() -> None:
    args = shlex.split(ssh_command(Path("/dev/shm/x/identity"), Path("/dev/shm/x/known hosts")))
    assert args[:5] == ["ssh", "-F", "/dev/null", "-i", "/dev/shm/x/identity"]
    options = dict(arg.split("=", 1) for arg in args[5:] if arg != "-o")
    assert options["StrictHostKeyChecking"] == "yes"
    assert options["IdentitiesOnly"] == "yes"
    assert options["BatchMode"] == "yes"
    assert options["UserKnownHostsFile"] == "/dev/shm/x/known hosts"
    assert int(options["ConnectTimeout"]) > 0


def test_insecure_ssh_command_accepts_new_host_keys_only() -> None:
    args = ssh_command(Path("/k"), Path("/kh"), strict=False)
    assert "StrictHostKeyChecking=accept-new" in args
    assert "StrictHostKeyChecking=yes" not in args


@pytest.mark.parametrize(
    ("stderr", "meaning"),
    [
        ("@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\nHost key verification failed.", "CHANGED"),
        ("Host key verification failed.", "not in the known host keys"),
        ("git@127.0.0.1: Permission denied (publickey).", "permission denied"),
        ("ssh: connect to host 127.0.0.1 port 1: Connection refused", "connection refused"),
        ("ERROR: this key is read-only: it may fetch but not push", "read-only"),
    ],
)
def test_ssh_failures_are_explained(stderr: str, meaning: str) -> None:
    explained = explain_failure(stderr)
    assert explained is not None
    assert meaning in explained


def test_remote_errors_are_one_line_without_credentials() -> None:
    error = remote_error("https://user:s3cret@host/robot.git", "fetch from", "fatal: oops\nsecond https://a:b@c/ line")
    assert "s3cret" not in str(error)
    assert ":b@" not in str(error)
    assert "\n" not in str(error)
    assert str(error).startswith("cannot fetch from https://host/robot.git: ")


def test_open_client_uses_the_identity_and_the_local_ssh() -> None:
    identity = SshIdentity(Path("/dev/shm/x/identity"), Path("/dev/shm/x/known_hosts"), "ssh -F /dev/null")
    client, path = open_client(Remote("git@git.example:org/robot.git", identity))
    assert isinstance(client, SSHGitClient)
    assert client.host == "git.example"
    assert client.username == "git"
    assert client.key_filename == "/dev/shm/x/identity"
    assert client.ssh_command == "ssh -F /dev/null"
    assert isinstance(client.ssh_vendor, SubprocessSSHVendor)
    assert path == "org/robot.git"
    local, local_path = open_client(Remote("file:///srv/robot.git"))
    assert isinstance(local, LocalGitClient)
    assert local_path == "/srv/robot.git"


def test_state_lives_on_robot_state_of_the_configuration_repository() -> None:
    location = state_location(Settings(home=Path("/h"), repository="git@h:o/r.git"))
    assert (location.url, location.branch, location.separate) == ("git@h:o/r.git", "robot-state", False)


def test_separate_state_repository_uses_its_default_branch_unless_named() -> None:
    base = Settings(home=Path("/h"), repository="git@h:o/r.git", state_repository="git@h:o/state.git")
    assert state_location(base).branch is None
    assert state_location(base).separate
    named = Settings(home=Path("/h"), repository="x", state_repository="y", state_branch="brains")
    assert state_location(named).branch == "brains"
