"""The images themselves: built with no registry, what they hold, and that they run read-only as their user."""

from __future__ import annotations

import json

import pytest

from tests.imagekit import IMAGE_TEST_TIMEOUT_S, BuiltImages, images_env, podman, run_once

# The first test to need the `images` fixture builds them (several minutes on a machine with no cache).
pytestmark = pytest.mark.timeout(IMAGE_TEST_TIMEOUT_S)

FORBIDDEN_IN_ROBOT = ("kopf", "kubernetes", "robot_operator")


def image_config(ref: str) -> dict[str, object]:
    config: dict[str, object] = json.loads(podman("image", "inspect", "--format", "{{json .Config}}", ref).stdout)
    return config


def find_modules(image: str, modules: tuple[str, ...]) -> list[str]:
    script = f"import importlib.util as u; print([m for m in {modules!r} if u.find_spec(m)])"
    result = run_once(image, ["--entrypoint", "python3"], ["-c", script])
    assert result.returncode == 0, result.stderr
    found: list[str] = json.loads(result.stdout.replace("'", '"'))
    return found


def test_make_images_prints_the_two_references_from_images_env(images: BuiltImages) -> None:
    names = images_env()
    assert (images.robot, images.operator) == (names["ROBOT_IMAGE"], names["OPERATOR_IMAGE"])


def test_robot_image_runs_the_runtime_read_only_as_uid_10001(images: BuiltImages) -> None:
    result = run_once(images.robot, ["--entrypoint", "sh"], ["-c", "id -u; id -g; pwd; robot-runtime --help"])
    assert result.returncode == 0, result.stderr
    uid, gid, cwd, *help_lines = result.stdout.splitlines()
    assert (uid, gid, cwd) == ("10001", "10001", "/home/robot")
    assert any("bootstrap" in line for line in help_lines)
    assert any("backup" in line for line in help_lines)


def test_robot_image_entrypoint_and_default_command(images: BuiltImages) -> None:
    config = image_config(images.robot)
    assert config["Entrypoint"] == ["robot-runtime", "run", "--"]
    assert config["Cmd"] == ["/opt/gopherbot/gopherbot"]
    assert config["User"] == "10001:10001"
    assert config["WorkingDir"] == "/home/robot"
    healthcheck = json.loads(podman("image", "inspect", "--format", "{{json .HealthCheck}}", images.robot).stdout)
    assert healthcheck["Test"][:3] == ["CMD", "python3", "-c"]
    assert "/healthz" in healthcheck["Test"][3]


def test_robot_image_carries_no_operator_dependencies(images: BuiltImages) -> None:
    assert find_modules(images.robot, (*FORBIDDEN_IN_ROBOT, "robot_runtime", "dulwich", "bcrypt")) == [
        "robot_runtime",
        "dulwich",
        "bcrypt",
    ]


def test_robot_image_root_filesystem_is_read_only_and_writes_go_to_tmp(images: BuiltImages) -> None:
    script = "touch /opt/x 2>/dev/null && echo wrote-root; touch /tmp/x && echo wrote-tmp"
    result = run_once(images.robot, ["--entrypoint", "sh"], ["-c", script])
    assert result.stdout.split() == ["wrote-tmp"]


def test_robot_image_has_the_ssh_client_and_no_build_secrets(images: BuiltImages) -> None:
    script = (
        "command -v ssh; ls /run/secrets 2>/dev/null | wc -l; ls /src /root/.cache/pip 2>/dev/null | wc -l;"
        "ls -A /opt/gopherbot | wc -l; ls -d /gopherbot-image-opt 2>/dev/null | wc -l"
    )
    result = run_once(images.robot, ["--entrypoint", "sh"], ["-c", script])
    # No Gopherbot without GOPHERBOT_IMAGE: an empty /opt/gopherbot (test_pod_template builds one with it).
    assert result.stdout.split() == ["/usr/bin/ssh", "0", "0", "0", "0"]


def test_operator_image_runs_read_only_as_its_user(images: BuiltImages) -> None:
    config = image_config(images.operator)
    assert config["Entrypoint"] == ["robot-operator", "run"]
    assert config["User"] == "65532:65532"
    result = run_once(images.operator, [], ["--help"])
    assert result.returncode == 0, result.stderr
    assert "--namespaces" in result.stdout
    assert find_modules(images.operator, ("kopf", "kubernetes", "robot_operator", "robot_runtime")) == [
        "kopf",
        "kubernetes",
        "robot_operator",
    ]
