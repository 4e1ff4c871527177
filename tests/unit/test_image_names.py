"""Image names, tags and user ids are written once (hack/images.env, the Containerfiles); everything else agrees."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from robot_operator import names

ROOT = Path(__file__).resolve().parents[2]


def images_env() -> dict[str, str]:
    """The KEY=value lines of hack/images.env (comments and blank lines skipped)."""
    values: dict[str, str] = {}
    for line in (ROOT / "hack" / "images.env").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def containerfile_user(path: Path) -> tuple[int, int]:
    match = re.search(r"^USER (\d+):(\d+)$", path.read_text(), re.MULTILINE)
    assert match is not None, f"{path} has no numeric USER uid:gid"
    return int(match.group(1)), int(match.group(2))


def operator_deployment() -> dict[str, object]:
    docs = [doc for doc in yaml.safe_load_all((ROOT / "deploy" / "operator.yaml").read_text()) if doc]
    deployments = [doc for doc in docs if doc.get("kind") == "Deployment"]
    assert len(deployments) == 1
    deployment: dict[str, object] = deployments[0]
    return deployment


def test_images_env_names_three_images() -> None:
    assert set(images_env()) == {"BASE_IMAGE", "ROBOT_IMAGE", "OPERATOR_IMAGE"}


def test_operator_default_robot_image_is_the_built_robot_image() -> None:
    assert images_env()["ROBOT_IMAGE"] == names.DEFAULT_ROBOT_IMAGE


def test_deploy_runs_the_built_operator_image() -> None:
    spec = operator_deployment()["spec"]
    assert isinstance(spec, dict)
    containers = spec["template"]["spec"]["containers"]
    assert [c["image"] for c in containers] == [images_env()["OPERATOR_IMAGE"]]


def test_install_yaml_runs_the_built_operator_image() -> None:
    images = re.findall(r"^\s+image: (\S+)$", (ROOT / "deploy" / "install.yaml").read_text(), re.MULTILINE)
    assert images == [images_env()["OPERATOR_IMAGE"]]


def test_robot_image_user_is_the_one_the_pod_template_runs_as() -> None:
    assert containerfile_user(ROOT / "robot" / "Containerfile") == (names.ROBOT_UID, names.ROBOT_GID)


def test_operator_image_user_is_the_one_deploy_runs_as() -> None:
    spec = operator_deployment()["spec"]
    assert isinstance(spec, dict)
    security = spec["template"]["spec"]["securityContext"]
    assert containerfile_user(ROOT / "operator" / "Containerfile") == (security["runAsUser"], security["runAsGroup"])


def test_containerfiles_default_to_the_locally_made_base() -> None:
    for containerfile in ("robot/Containerfile", "operator/Containerfile"):
        text = (ROOT / containerfile).read_text()
        assert f"ARG BASE_IMAGE={images_env()['BASE_IMAGE']}\n" in text, containerfile


def test_robot_image_home_and_command_match_the_operator() -> None:
    text = (ROOT / "robot" / "Containerfile").read_text()
    assert f"WORKDIR {names.ROBOT_HOME}\n" in text
    assert f'CMD ["{names.GOPHERBOT_BINARY}"]\n' in text
    assert 'ENTRYPOINT ["robot-runtime", "run", "--"]\n' in text
    assert f"ROBOT_CONTROL_ADDR=:{names.CONTROL_PORT} " in text
