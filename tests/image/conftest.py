"""Fixtures for the image tier: the images built once per session, a real sshd, robot repositories to run against."""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.git.conftest import ENCRYPTION_KEY, RobotRepo, git, make_robot_repo
from tests.imagekit import BuiltImages, Container, build_images, free_port, run_container, write_env_file
from tests.robotkit import encode_env_key, write_memory
from tests.sshd import SshServer, start_sshd

ROOT = Path(__file__).resolve().parents[2]
BOTS = ROOT / "tests" / "bots"
BOT_COMMAND = ("python3", "/bots/memory_bot.py")
CONTROL_TOKEN = "image-tier-control-token-0123456789abcdef"
STATE_BRANCH = "robot-state"
RESTORED_MEMORIES = {"bot:greeting": '{"hello":"world"}', "memory_bot:counter": '"7"'}
_names = itertools.count()


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> BuiltImages:
    """Both images, built once per session by hack/images.sh with no registry (base made with debootstrap)."""
    built = build_images(tmp_path_factory.mktemp("images") / "build.log")
    print(f"\nimages: built {built.robot} and {built.operator} in {built.seconds:.0f} s")
    return built


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    try:
        yield server
    finally:
        server.stop()


@dataclass
class ImageRobot:
    """A robot repository served by the real sshd, with a robot-state branch, and the .env a user would write."""

    repo: RobotRepo
    sshd: SshServer
    directory: Path
    control_port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return self.sshd.url(self.repo.bare)

    @property
    def control_url(self) -> str:
        return f"http://127.0.0.1:{self.control_port}"

    def variables(self, **overrides: str) -> dict[str, str]:
        values = {
            "GOPHER_CUSTOM_REPOSITORY": self.url,
            "GOPHER_DEPLOY_KEY": encode_env_key(self.repo.deploy_key.private_openssh),
            "GOPHER_ENCRYPTION_KEY": ENCRYPTION_KEY,
            "GOPHER_PROTOCOL": "terminal",
            "GOPHER_HOST_KEYS": encode_env_key(self.sshd.known_hosts_line()),
            "ROBOT_CONTROL_TOKEN": CONTROL_TOKEN,
            "ROBOT_CONTROL_ADDR": f"127.0.0.1:{self.control_port}",
            "ROBOT_STOP_TIMEOUT": "20",
            "MEMORY_BOT_LIFETIME": "240",
        }
        values.update(overrides)
        return values

    def env_file(self, name: str = "robot.env", **overrides: str) -> Path:
        return write_env_file(self.directory / name, self.variables(**overrides))

    def state_files(self) -> dict[str, bytes]:
        """Every file of the remote robot-state branch (path -> bytes), read with the git CLI."""
        listing = git("-C", str(self.repo.bare), "ls-tree", "-r", "--name-only", STATE_BRANCH).split()
        return {path: git_show_bytes(self.repo.bare, f"{STATE_BRANCH}:{path}") for path in listing}

    def state_commit(self) -> str | None:
        return self.repo.remote_commit(STATE_BRANCH)


def git_show_bytes(bare: Path, spec: str) -> bytes:
    return subprocess.run(["git", "-C", str(bare), "show", spec], capture_output=True, check=True).stdout


def seed_state_branch(repo: RobotRepo, work: Path) -> None:
    """Push a robot-state branch holding encrypted file-brain memories, as a running Gopherbot would have."""
    git("init", "-q", str(work))
    git("checkout", "-q", "--orphan", STATE_BRANCH, cwd=work)
    for name, text in RESTORED_MEMORIES.items():
        write_memory(work / "brain", repo.config.runtime_key, name, text)
    (work / "brain" / "README.txt").write_text("The robot's file brain.\n")
    (work / ".gitignore").write_text("bot:histories*\n*:repostats*\n*:_*\n")
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "Automated backup of robot state", cwd=work)
    git("push", "-q", str(repo.bare), f"HEAD:refs/heads/{STATE_BRANCH}", cwd=work)


def new_image_robot(directory: Path, sshd: SshServer) -> ImageRobot:
    """A robot repository on the sshd: deploy key read-only, manage key read-write, a robot-state branch seeded."""
    repo = make_robot_repo(directory / "remote")
    seed_state_branch(repo, directory / "state-seed")
    sshd.authorize(repo.deploy_key.private_openssh, read_only=True)
    sshd.authorize(repo.config.manage_private_key, read_only=False)
    return ImageRobot(repo=repo, sshd=sshd, directory=directory)


@pytest.fixture
def image_robot(tmp_path: Path, sshd: SshServer) -> ImageRobot:
    return new_image_robot(tmp_path, sshd)


@pytest.fixture
def containers(request: pytest.FixtureRequest) -> Iterator[ContainerFactory]:
    """Start containers with `containers(image, ...)`; all are removed (with their logs shown on failure) at the end."""
    factory = ContainerFactory(prefix=f"robot-image-test-{os.getpid()}")
    try:
        yield factory
    finally:
        failed = getattr(request.node, "rep_call", None)
        for container in factory.started:
            if failed is not None and failed.failed:
                print(f"--- logs of {container.name} ---\n{container.logs()}")
            container.remove()


@dataclass
class ContainerFactory:
    prefix: str
    started: list[Container] = field(default_factory=list)

    def __call__(self, image: str, **kwargs: Any) -> Container:
        name = f"{self.prefix}-{next(_names)}"
        container = run_container(image, name, **kwargs)
        self.started.append(container)
        return container


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the item, so fixtures can show container logs when a test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
