"""Bootstrap, restore and backup through a real OpenSSH server on 127.0.0.1, with strict host-key checking."""

from __future__ import annotations

import dataclasses
import logging
import os
import stat
import subprocess
from pathlib import Path

import pytest

from robot_runtime.backup import backup
from robot_runtime.bootstrap import bootstrap
from robot_runtime.errors import RobotError
from robot_runtime.gitops import Remote, commit_all, fetch_branch_into_new_repo, push_branch
from robot_runtime.keys import decode_deploy_key
from robot_runtime.restore import restore
from robot_runtime.ssh import ssh_identity
from tests.git.conftest import ENCRYPTION_KEY, MANAGE_PASSPHRASE, RobotRepo
from tests.robotkit import encode_env_key, new_keypair, read_memory, write_memory
from tests.sshd import SshServer, free_port

pytestmark = pytest.mark.timeout(120)


def secrets_of(robot: RobotRepo) -> list[str]:
    """Values that must never appear in a message: the encryption key, key material, the passphrase."""
    deploy = robot.deploy_key.private_openssh.decode().splitlines()[1]
    manage = robot.config.manage_private_key.decode().splitlines()[1]
    return [ENCRYPTION_KEY, MANAGE_PASSPHRASE, deploy, encode_env_key(deploy), manage]


def assert_no_secret(robot: RobotRepo, text: str) -> None:
    for secret in secrets_of(robot):
        assert secret not in text


def test_bootstrap_restore_and_backup_over_ssh(
    ssh_robot: RobotRepo, sshd: SshServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = ssh_robot.settings(
        tmp_path / "home", repository=sshd.url(ssh_robot.bare), host_keys=encode_env_key(sshd.known_hosts_line())
    )
    bootstrap(settings)
    assert (settings.custom_dir / "conf" / "robot.yaml").exists()
    assert settings.brain_dir.is_dir()
    key = ssh_robot.config.runtime_key
    write_memory(settings.brain_dir, key, "remember:this", '"over ssh"')
    result = backup(settings)
    assert result.result == "Pushed", result.message
    assert result.commit == ssh_robot.remote_commit("robot-state")
    assert_no_secret(ssh_robot, result.to_json())
    again = backup(settings)
    assert again.result == "NoChanges"
    other = dataclasses.replace(settings, home=tmp_path / "other")
    bootstrap(other)
    assert read_memory(other.brain_dir / "remember:this", key) == '"over ssh"'
    assert "cloned" in caplog.text
    assert_no_secret(ssh_robot, caplog.text)


def test_known_hosts_file_is_used(ssh_robot: RobotRepo, sshd: SshServer, tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(sshd.known_hosts_line() + "\n")
    settings = ssh_robot.settings(tmp_path / "home", repository=sshd.url(ssh_robot.bare), known_hosts_file=known_hosts)
    bootstrap(settings)
    assert (settings.custom_dir / "conf").is_dir()


def test_wrong_host_key_is_refused(ssh_robot: RobotRepo, sshd: SshServer, tmp_path: Path) -> None:
    impostor = new_keypair().public_line.split()[:2]
    wrong_line = f"[127.0.0.1]:{sshd.port} {' '.join(impostor)}"
    settings = ssh_robot.settings(
        tmp_path / "home", repository=sshd.url(ssh_robot.bare), host_keys=encode_env_key(wrong_line)
    )
    with pytest.raises(RobotError) as caught:
        bootstrap(settings)
    message = str(caught.value)
    assert "host key" in message
    assert f"127.0.0.1:{sshd.port}" in message
    assert "\n" not in message
    assert_no_secret(ssh_robot, message)
    assert not settings.custom_dir.exists()


def test_missing_host_keys_are_refused_unless_insecure(
    ssh_robot: RobotRepo, sshd: SshServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = ssh_robot.settings(tmp_path / "home", repository=sshd.url(ssh_robot.bare))
    with pytest.raises(RobotError, match=r"ROBOT_KNOWN_HOSTS.*GOPHER_HOST_KEYS.*GOPHER_INSECURE_SSH"):
        bootstrap(settings)
    with caplog.at_level(logging.WARNING):
        bootstrap(dataclasses.replace(settings, insecure_ssh=True))
    assert (settings.custom_dir / "conf").is_dir()
    assert "trusting the git server's host key on first use" in caplog.text


def test_unreachable_server_is_a_clear_error(ssh_robot: RobotRepo, tmp_path: Path, sshd: SshServer) -> None:
    port = free_port()
    url = f"ssh://{sshd.user}@127.0.0.1:{port}{ssh_robot.bare}"
    settings = ssh_robot.settings(
        tmp_path / "home", repository=url, host_keys=encode_env_key(f"[127.0.0.1]:{port} {sshd.host_public_key}")
    )
    with pytest.raises(RobotError, match=r"unreachable \(connection refused\)"):
        bootstrap(settings)


def test_malformed_deploy_key_names_the_variable(ssh_robot: RobotRepo, sshd: SshServer, tmp_path: Path) -> None:
    settings = ssh_robot.settings(
        tmp_path / "home",
        repository=sshd.url(ssh_robot.bare),
        host_keys=encode_env_key(sshd.known_hosts_line()),
        deploy_key="-----BEGIN_OPENSSH_PRIVATE_KEY-----:bm90IGEga2V5:-----END_OPENSSH_PRIVATE_KEY-----",
    )
    with pytest.raises(RobotError, match="GOPHER_DEPLOY_KEY") as caught:
        bootstrap(settings)
    assert "bm90IGEga2V5" not in str(caught.value)


def test_unauthorized_key_is_permission_denied(robot_repo: RobotRepo, sshd: SshServer, tmp_path: Path) -> None:
    settings = robot_repo.settings(
        tmp_path / "home", repository=sshd.url(robot_repo.bare), host_keys=encode_env_key(sshd.known_hosts_line())
    )
    with pytest.raises(RobotError, match="permission denied"):
        bootstrap(settings)


def test_deploy_key_cannot_push_but_manage_key_can(ssh_robot: RobotRepo, sshd: SshServer, tmp_path: Path) -> None:
    url = sshd.url(ssh_robot.bare)
    known = sshd.known_hosts_line() + "\n"
    deploy = decode_deploy_key(encode_env_key(ssh_robot.deploy_key.private_openssh))
    work = tmp_path / "work"
    with ssh_identity(deploy, known, insecure=False) as identity:
        fetched = fetch_branch_into_new_repo(Remote(url, identity), "main", work)
        assert fetched.commit == ssh_robot.remote_commit("main")
        (work / "pushed.txt").write_text("change\n")
        commit = commit_all(work, "a change")
        with pytest.raises(RobotError, match="read-only"):
            push_branch(work, Remote(url, identity), "main")
    assert ssh_robot.remote_commit("main") == fetched.commit
    with ssh_identity(ssh_robot.config.manage_private_key, known, insecure=False) as identity:
        assert push_branch(work, Remote(url, identity), "main") == commit
    assert ssh_robot.remote_commit("main") == commit


def test_identity_files_are_private_and_removed(sshd: SshServer) -> None:
    with ssh_identity(new_keypair().private_openssh, sshd.known_hosts_line(), insecure=False) as identity:
        directory = identity.key_file.parent
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        assert stat.S_IMODE(identity.key_file.stat().st_mode) == 0o600
        if Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK):
            assert directory.parent == Path("/dev/shm")
        assert "StrictHostKeyChecking=yes" in identity.ssh_command
        assert "IdentitiesOnly=yes" in identity.ssh_command
    assert not directory.exists()
    seen: list[Path] = []

    def fail_inside() -> None:
        with ssh_identity(b"key", "host line", insecure=False) as identity:
            seen.append(identity.key_file.parent)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_inside()
    assert seen
    assert not seen[0].exists()


def test_backup_with_an_unauthorized_manage_key_fails_and_keeps_state(
    ssh_robot: RobotRepo, sshd: SshServer, tmp_path: Path
) -> None:
    settings = ssh_robot.settings(
        tmp_path / "home", repository=sshd.url(ssh_robot.bare), host_keys=encode_env_key(sshd.known_hosts_line())
    )
    bootstrap(settings)
    assert backup(settings).result == "Pushed"  # the manage key is unlocked (and kept in memory) here
    pushed = ssh_robot.remote_commit("robot-state")
    # Swap the manage key file for one the server does not know: the push must fail, the memory must stay.
    stranger = new_keypair(MANAGE_PASSPHRASE)
    (settings.custom_dir / "ssh" / "manage_key").write_bytes(stranger.private_openssh)
    memory = write_memory(settings.brain_dir, ssh_robot.config.runtime_key, "kept:local", '"yes"')
    result = backup(settings)
    assert result.result == "Failed"
    assert "permission denied" in result.message
    assert memory.exists()
    assert ssh_robot.remote_commit("robot-state") == pushed
    assert_no_secret(ssh_robot, result.to_json())


def test_restore_over_ssh_after_force(ssh_robot: RobotRepo, sshd: SshServer, tmp_path: Path) -> None:
    settings = ssh_robot.settings(
        tmp_path / "home", repository=sshd.url(ssh_robot.bare), host_keys=encode_env_key(sshd.known_hosts_line())
    )
    bootstrap(settings)
    assert backup(settings).result == "Pushed"
    summary = restore(settings, force=True)
    assert "restored branch robot-state" in summary
    assert "127.0.0.1" in summary
    listed = subprocess.run(
        ["git", "-C", str(settings.state_dir), "status", "--porcelain"], capture_output=True, text=True, check=True
    )
    assert listed.stdout == ""


def test_failed_clone_over_ssh_still_completes_the_state(ssh_robot: RobotRepo, sshd: SshServer, tmp_path: Path) -> None:
    """Over ssh configuration and state are fetched side by side: a failed clone leaves a complete state/."""
    known = encode_env_key(sshd.known_hosts_line())
    writer = ssh_robot.settings(tmp_path / "writer", repository=sshd.url(ssh_robot.bare), host_keys=known)
    bootstrap(writer)
    write_memory(writer.brain_dir, ssh_robot.config.runtime_key, "keep:me", '"kept"')
    assert backup(writer).result == "Pushed"
    settings = dataclasses.replace(writer, home=tmp_path / "home", branch="missing")
    with pytest.raises(RobotError, match="GOPHER_CUSTOM_BRANCH"):
        bootstrap(settings)
    assert not settings.custom_dir.exists()
    assert read_memory(settings.brain_dir / "keep:me", ssh_robot.config.runtime_key) == '"kept"'
    bootstrap(dataclasses.replace(settings, branch="main"))
    assert (settings.custom_dir / "conf" / "robot.yaml").exists()
