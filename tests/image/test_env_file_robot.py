"""Scenarios 1-5: `podman run --env-file robot.env --read-only --user 10001` against the real ssh git server.

A robot comes back from its .env alone in an empty container, backs up through a second container (as the
CronJob's Job does), backs up once more on `podman stop`, and a brand-new container restores that last memory.
Bad configurations exit non-zero with one line and leave the remote untouched.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from robot_runtime import crypto
from tests.image.conftest import (
    BOT_COMMAND,
    BOTS,
    CONTROL_TOKEN,
    RESTORED_MEMORIES,
    ContainerFactory,
    ImageRobot,
    new_image_robot,
)
from tests.imagekit import (
    IMAGE_TEST_TIMEOUT_S,
    BuiltImages,
    Container,
    free_port,
    http_status,
    podman,
    run_once,
    wait_for,
)
from tests.robotkit import encode_env_key
from tests.sshd import SshServer, generate_private_key, public_key_line

# The first test to need the `images` fixture builds them (several minutes on a machine with no cache).
pytestmark = pytest.mark.timeout(IMAGE_TEST_TIMEOUT_S)

READY_TIMEOUT_S = 120.0
EXIT_TIMEOUT_S = 120.0
STOP_GRACE_S = 60
SECRET_NAMES = ("GOPHER_ENCRYPTION_KEY", "GOPHER_DEPLOY_KEY", "ROBOT_CONTROL_TOKEN")
BRAIN_DUMP = (
    "import base64, json, pathlib; b = pathlib.Path('state/brain');"
    "print(json.dumps({p.name: base64.b64encode(p.read_bytes()).decode() for p in b.iterdir() if p.is_file()}))"
)


def brain_of(container: Container) -> dict[str, bytes]:
    """The files of `state/brain/` inside the running container."""
    out = container.exec("python3", "-c", BRAIN_DUMP).stdout
    return {name: base64.b64decode(data) for name, data in json.loads(out).items()}


def remote_brain(robot: ImageRobot) -> dict[str, bytes]:
    files = robot.state_files()
    return {path.removeprefix("brain/"): data for path, data in files.items() if path.startswith("brain/")}


def tell_bot(container: Container, memory: str, text: str) -> None:
    """Drop a file into the memory bot's inbox: it becomes the memory `state/brain/<memory>`."""
    script = 'mkdir -p inbox && printf %s "$2" > "inbox/.$1" && mv "inbox/.$1" "inbox/$1"'
    container.exec("sh", "-c", script, "sh", memory, text)
    wait_for(lambda: brain_of(container).get(memory) == text.encode(), f"the bot to write {memory}", 30)


def wait_ready(robot: ImageRobot, container: Container) -> None:
    def ready() -> bool:
        assert container.running(), f"the robot container exited:\n{container.logs()}"
        return http_status(robot.control_url + "/readyz") == 200

    wait_for(ready, "/readyz of the robot container", READY_TIMEOUT_S)
    started = lambda: container.exec("test", "-f", "bot-started.json", check=False).returncode == 0  # noqa: E731
    wait_for(started, "the bot to start", READY_TIMEOUT_S)


def assert_no_secret_in(text: str, robot: ImageRobot) -> None:
    variables = robot.variables()
    for name in SECRET_NAMES:
        assert variables[name] not in text, f"the value of {name} appears in the output"
    assert variables["GOPHER_ENCRYPTION_KEY"][:32] not in text


def start_robot(robot: ImageRobot, images: BuiltImages, containers: ContainerFactory, **kwargs: Any) -> Container:
    return containers(images.robot, env_file=robot.env_file(), volumes=[f"{BOTS}:/bots:ro"], command=BOT_COMMAND,
                      **kwargs)  # fmt: skip


@dataclass
class Lifecycle:
    """Scenarios 1-4 share one robot: each step builds on the previous one (tests run in file order)."""

    robot: ImageRobot
    images: BuiltImages
    containers: ContainerFactory
    running: list[Container] = field(default_factory=list)

    def current(self) -> Container:
        assert self.running, "an earlier scenario did not leave a running robot"
        return self.running[-1]


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory: pytest.TempPathFactory, sshd: SshServer, images: BuiltImages) -> Iterator[Lifecycle]:
    robot = new_image_robot(tmp_path_factory.mktemp("lifecycle"), sshd)
    factory = ContainerFactory(prefix=f"robot-lifecycle-{free_port()}")
    try:
        yield Lifecycle(robot=robot, images=images, containers=factory)
    finally:
        for container in factory.started:
            container.remove()


def test_1_empty_container_clones_restores_and_becomes_ready(lifecycle: Lifecycle) -> None:
    robot = lifecycle.robot
    container = start_robot(robot, lifecycle.images, lifecycle.containers, healthcheck=True)
    lifecycle.running.append(container)
    wait_ready(robot, container)
    brain = brain_of(container)
    assert brain == remote_brain(robot)
    assert {name: read_memory_bytes(brain[name], robot) for name in RESTORED_MEMORIES} == RESTORED_MEMORIES
    assert container.exec("test", "-d", "custom/conf").returncode == 0
    assert http_status(robot.control_url + "/healthz") == 200
    health = podman("healthcheck", "run", container.name, check=False)  # the image's HEALTHCHECK command
    assert health.returncode == 0, health.stdout + health.stderr
    assert container.exec("sh", "-c", "touch /opt/x", check=False).returncode != 0
    assert_no_secret_in(container.logs(), robot)


def test_2_backup_from_a_second_container_pushes_the_new_memory(lifecycle: Lifecycle) -> None:
    robot, container = lifecycle.robot, lifecycle.current()
    tell_bot(container, "bot:todo", '{"item":"water the plants"}')
    before = robot.state_commit()
    result = run_once(
        lifecycle.images.robot,
        ["--user", "10001:10001", "--env", f"ROBOT_CONTROL_TOKEN={CONTROL_TOKEN}", "--entrypoint", "robot-runtime"],
        ["backup", "--remote", robot.control_url],
    )
    assert result.returncode == 0, result.stdout + result.stderr
    answer = json.loads(result.stdout)
    assert answer["result"] == "Pushed"
    assert answer["commit"] == robot.state_commit() != before
    assert remote_brain(robot)["bot:todo"] == b'{"item":"water the plants"}'
    assert_no_secret_in(result.stdout + result.stderr, robot)


def test_3_podman_stop_pushes_the_last_memory_before_exit(lifecycle: Lifecycle) -> None:
    robot, container = lifecycle.robot, lifecycle.current()
    tell_bot(container, "bot:last", '{"said":"goodbye"}')
    before = robot.state_commit()
    assert container.stop(STOP_GRACE_S) == 0, container.logs()
    lifecycle.running.remove(container)
    assert robot.state_commit() != before
    brain = remote_brain(robot)
    assert brain["bot:last"] == b'{"said":"goodbye"}'
    assert "memory_bot:last-words" in brain  # written by the bot after SIGTERM: the backup ran after it stopped
    assert_no_secret_in(container.logs(), robot)


def test_4_a_brand_new_container_restores_every_memory(lifecycle: Lifecycle) -> None:
    robot = lifecycle.robot
    container = start_robot(robot, lifecycle.images, lifecycle.containers)
    lifecycle.running.append(container)
    wait_ready(robot, container)
    brain = brain_of(container)
    assert brain["bot:last"] == b'{"said":"goodbye"}'
    assert brain["bot:todo"] == b'{"item":"water the plants"}'
    for name, text in RESTORED_MEMORIES.items():
        assert read_memory_bytes(brain[name], robot) == text
    assert brain == remote_brain(robot)


def read_memory_bytes(data: bytes, robot: ImageRobot) -> str:
    return crypto.decode_file(robot.repo.config.runtime_key, data).decode()


def other_host_key_line(robot: ImageRobot) -> str:
    return f"[127.0.0.1]:{robot.sshd.port} {public_key_line(generate_private_key())}"


EXPECTED_WORDS = {
    "wrong encryption key": "GOPHER_ENCRYPTION_KEY",
    "wrong host key": "host key has CHANGED",
    "unreachable repository": "the git server is unreachable",
    "quoted value": "GOPHER_PROTOCOL is wrapped in quotes",
}


@pytest.mark.parametrize("case", ["wrong encryption key", "wrong host key", "unreachable repository", "quoted value"])
def test_5_bad_configuration_exits_non_zero_with_one_line(
    case: str, image_robot: ImageRobot, images: BuiltImages, containers: ContainerFactory
) -> None:
    overrides, expected = (
        {
            "wrong encryption key": {"GOPHER_ENCRYPTION_KEY": "another-key-of-at-least-32-bytes-0123456789"},
            "wrong host key": {"GOPHER_HOST_KEYS": encode_env_key(other_host_key_line(image_robot))},
            "unreachable repository": {"GOPHER_CUSTOM_REPOSITORY": f"ssh://root@127.0.0.1:{free_port()}/robot.git"},
            "quoted value": {"GOPHER_PROTOCOL": '"terminal"'},
        }[case],
        EXPECTED_WORDS[case],
    )
    before = image_robot.state_files()
    env_file = image_robot.env_file(**overrides)
    container = containers(images.robot, env_file=env_file, volumes=[f"{BOTS}:/bots:ro"], command=BOT_COMMAND)
    status = container.wait_exit(EXIT_TIMEOUT_S)
    logs = container.logs()
    assert status != 0, logs
    errors = [line for line in logs.splitlines() if line.startswith(("ERROR", "robot-runtime:"))]
    assert len(errors) == 1, logs
    print(f"{case}: {errors[0]}")
    assert expected.lower() in errors[0].lower(), logs
    assert "Traceback" not in logs
    assert_no_secret_in(logs, image_robot)
    assert image_robot.state_files() == before


def test_image_without_gopherbot_says_so_in_one_line(
    image_robot: ImageRobot, images: BuiltImages, containers: ContainerFactory
) -> None:
    """The default command is the Gopherbot binary; an image built without GOPHERBOT_IMAGE has none."""
    container = containers(images.robot, env_file=image_robot.env_file())
    status = container.wait_exit(EXIT_TIMEOUT_S)
    logs = container.logs()
    assert status != 0, logs
    errors = [line for line in logs.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1, logs
    assert "cannot start /opt/gopherbot/gopherbot: No such file or directory" in errors[0]
    assert "Traceback" not in logs
