"""Fixtures for the git tier: a real OpenSSH server, real bare repositories holding robot configurations."""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from robot_runtime.settings import Settings
from tests.robotkit import KeyPair, RobotConfig, encode_env_key, make_robot_config, new_keypair
from tests.sshd import SshServer, start_sshd

ENCRYPTION_KEY = "0123456789abcdef0123456789abcdef-and-more"
MANAGE_PASSPHRASE = "manage key passphrase for tests"
CONFIG_FILES = {"conf/plugins/hello.yaml": "Help: []\n", "README.md": "A test robot.\n"}


def git(*args: str, cwd: Path | None = None) -> str:
    """Run the git CLI (the independent reference in these tests) and return its stdout."""
    result = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@localhost", "-c", "init.defaultBranch=main", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout


@dataclass
class RobotRepo:
    """A robot configuration pushed to branch `main` of a bare repository, with its keys."""

    bare: Path
    config: RobotConfig
    deploy_key: KeyPair = field(repr=False)

    @property
    def file_url(self) -> str:
        return f"file://{self.bare}"

    def settings(self, home: Path, repository: str | None = None, **overrides: Any) -> Settings:
        """Settings as the CLI would build them from a .env, for a robot home `home`."""
        base = Settings(
            home=home,
            repository=repository or self.file_url,
            deploy_key=encode_env_key(self.deploy_key.private_openssh),
            encryption_key=ENCRYPTION_KEY,
        )
        return dataclasses.replace(base, **overrides)

    def remote_commit(self, branch: str) -> str | None:
        """The commit of `branch` in the bare repository according to the git CLI, None when it has no such branch."""
        out = git("-C", str(self.bare), "for-each-ref", "--format=%(objectname)", f"refs/heads/{branch}")
        return out.strip() or None


def make_robot_repo(directory: Path) -> RobotRepo:
    """Generate a robot configuration with robotkit and push it to a new bare repository with the git CLI."""
    seed = directory / "seed"
    config = make_robot_config(seed, ENCRYPTION_KEY, MANAGE_PASSPHRASE)
    for name, text in CONFIG_FILES.items():
        (seed / name).parent.mkdir(parents=True, exist_ok=True)
        (seed / name).write_text(text)
    bare = directory / "robot.git"
    git("init", "-q", "--bare", str(bare))
    git("init", "-q", str(seed))
    git("add", "-A", cwd=seed)
    git("commit", "-q", "-m", "Robot configuration", cwd=seed)
    git("push", "-q", str(bare), "HEAD:refs/heads/main", cwd=seed)
    return RobotRepo(bare=bare, config=config, deploy_key=new_keypair(comment="deploy@test"))


@pytest.fixture
def robot_repo(tmp_path: Path) -> RobotRepo:
    return make_robot_repo(tmp_path / "remote")


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """One real OpenSSH server for the session; tests authorize their own keys."""
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def ssh_robot(robot_repo: RobotRepo, sshd: SshServer) -> RobotRepo:
    """The robot repository with its deploy key authorized read-only and its manage key read-write."""
    sshd.authorize(robot_repo.deploy_key.private_openssh, read_only=True)
    sshd.authorize(robot_repo.config.manage_private_key, read_only=False)
    return robot_repo
