"""Scenario 6: the pod template the operator's builders produce, run with podman the way a kubelet would run it.

From `build_deployment` and `build_env_secret` (the operator's own pure builders, for a Robot whose `.env` points
at the real sshd): the template's image, command, args, working directory, environment (the env Secret via
envFrom, `value`s, downward-API fieldRefs), user/group, read-only root filesystem, dropped capabilities,
no-new-privileges and emptyDir mounts become podman flags; the Lease the pod holds lives in a REAL API server
(tests/kubecluster.py), reached in-cluster style through a mounted ServiceAccount token, as a kubelet mounts it.
The probes' paths must answer 200. Differences from a kubelet, because the pod shares the host's network here
(loopback only, to reach the test sshd): each containerPort is mapped to a free loopback port, and an address
variable ending in `:<containerPort>` is rewritten to that port on 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from robot_operator import envcheck, names
from robot_operator.children.deployment import build_deployment
from robot_operator.children.rbac import build_lease_role, build_lease_role_binding, build_service_account
from robot_operator.children.secret import build_env_secret
from robot_operator.model import Robot
from tests.image.conftest import BOTS, ContainerFactory, ImageRobot
from tests.imagekit import (
    IMAGE_TEST_TIMEOUT_S,
    BuiltImages,
    Container,
    build_robot_with_gopherbot,
    free_port,
    http_status,
    wait_for,
    write_env_file,
)
from tests.kubecluster import ControlPlane, build_binaries, kubectl_run

# The first test to need the `images` fixture builds them (several minutes on a machine with no cache).
pytestmark = pytest.mark.timeout(IMAGE_TEST_TIMEOUT_S)

NAMESPACE = "robots"
ROBOT_NAME = "floyd"
POD_NAME = "floyd-7d9f8c6b5-x2k4q"
READY_TIMEOUT_S = 120.0
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
Obj = dict[str, Any]


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    plane = ControlPlane(bin_dir=build_binaries(), run_dir=tmp_path_factory.mktemp("controlplane"))
    plane.start()
    try:
        kubectl_run(plane, "create", "namespace", NAMESPACE)
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="module")
def standin_robot_image(images: BuiltImages, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The robot image with the memory bot as /opt/gopherbot/gopherbot (GOPHERBOT_IMAGE build stage)."""
    tag = images.robot.rpartition(":")[0] + ":test-gopherbot"
    return build_robot_with_gopherbot(tmp_path_factory.mktemp("standin"), BOTS / "memory_bot.py", tag)


def robot_resource(image: str, known_hosts: str) -> Obj:
    return {
        "apiVersion": names.API_VERSION,
        "kind": names.KIND,
        "metadata": {
            "name": ROBOT_NAME,
            "namespace": NAMESPACE,
            "uid": "0b7e2c1e-5d1f-4c55-9a53-6a3d7c1f0e11",
            "generation": 1,
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {
            "envFrom": {"secretName": "floyd-dotenv"},
            "image": image,
            "imagePullPolicy": "Never",
            "protocol": "terminal",
            "knownHosts": known_hosts,
        },
    }


def dotenv_text(robot: ImageRobot) -> str:
    """The user's `.env` (quoted values, as godotenv allows: the operator's parser removes the quotes)."""
    variables = robot.variables()
    keep = ("GOPHER_CUSTOM_REPOSITORY", "GOPHER_DEPLOY_KEY", "GOPHER_ENCRYPTION_KEY")
    return "".join(f'{name}="{variables[name]}"\n' for name in keep) + "MEMORY_BOT_LIFETIME=240\n"


def without_owner(obj: Obj) -> Obj:
    """Owner references name a Robot that this API server does not hold: its garbage collector would delete them."""
    copy: Obj = json.loads(json.dumps(obj))
    copy["metadata"].pop("ownerReferences", None)
    return copy


def resolve_env(container: Obj, secret: Obj, downward: Mapping[str, str]) -> dict[str, str]:
    """The container's environment as a kubelet resolves it: envFrom secrets first, then `env` (which wins)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        assert source["secretRef"]["name"] == secret["metadata"]["name"], source
        env.update({k: base64.b64decode(v).decode() for k, v in secret["data"].items()})
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            field_path = item["valueFrom"]["fieldRef"]["fieldPath"]
            assert field_path in downward, f"env {item['name']}: unsupported fieldRef {field_path}"
            env[item["name"]] = downward[field_path]
    return env


def named_ports(container: Obj) -> dict[str, int]:
    return {port["name"]: int(port["containerPort"]) for port in container.get("ports", [])}


def remap_addresses(env: dict[str, str], port_map: Mapping[int, int]) -> dict[str, str]:
    """Host networking: `<host>:<containerPort>` values listen on 127.0.0.1:<mapped port> instead."""
    out = dict(env)
    for name, value in env.items():
        for container_port, host_port in port_map.items():
            if value.endswith(f":{container_port}") and value.count(":") == 1:
                out[name] = f"127.0.0.1:{host_port}"
    return out


def podman_flags(pod: Obj, container: Obj, service_account_dir: Path) -> list[str]:
    """Security context, volumes and mounts of the pod spec as podman flags (refusing what is not understood)."""
    pod_security, security = pod["securityContext"], container["securityContext"]
    uid = security.get("runAsUser", pod_security["runAsUser"])
    gid = security.get("runAsGroup", pod_security["runAsGroup"])
    assert uid != 0, "runAsNonRoot with uid 0"
    flags = ["--user", f"{uid}:{gid}", "--group-add", str(pod_security["fsGroup"]), "--hostname", POD_NAME]
    if security.get("readOnlyRootFilesystem"):
        flags.append("--read-only")
    if security.get("allowPrivilegeEscalation") is False:
        flags += ["--security-opt", "no-new-privileges"]
    for capability in security.get("capabilities", {}).get("drop", []):
        flags += ["--cap-drop", capability]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    for mount in container["volumeMounts"]:
        volume = volumes[mount["name"]]
        assert "emptyDir" in volume, f"volume {mount['name']}: only emptyDir is run here"
        flags += ["--tmpfs", f"{mount['mountPath']}:rw,exec,U"]
    if pod.get("automountServiceAccountToken"):
        flags += ["-v", f"{service_account_dir}:{SERVICE_ACCOUNT_DIR}:ro"]
    return flags


def mount_service_account(plane: ControlPlane, directory: Path, account: str) -> Path:
    """token, ca.crt and namespace files, as the kubelet projects them for the pod's ServiceAccount."""
    directory.mkdir(parents=True, exist_ok=True)
    token = kubectl_run(plane, "create", "token", account, "-n", NAMESPACE, "--duration=1h").strip()
    (directory / "token").write_text(token)
    shutil.copyfile(plane.run_dir / "pki" / "ca.crt", directory / "ca.crt")
    (directory / "namespace").write_text(NAMESPACE)
    for path in (directory, *directory.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    directory.parent.chmod(0o755)
    return directory


def lease(plane: ControlPlane) -> Obj | None:
    out = kubectl_run(plane, "get", "lease", names.lease_name(ROBOT_NAME), "-n", NAMESPACE, "-o", "json",
                      "--ignore-not-found")  # fmt: skip
    return json.loads(out) if out.strip() else None


def test_6_the_operators_pod_template_runs_and_becomes_ready(
    image_robot: ImageRobot,
    standin_robot_image: str,
    control_plane: ControlPlane,
    containers: ContainerFactory,
    tmp_path: Path,
) -> None:
    robot = Robot.from_resource(robot_resource(standin_robot_image, image_robot.sshd.known_hosts_line()))
    resolved = envcheck.resolve_env(robot, {".env": dotenv_text(image_robot).encode()})
    secret = build_env_secret(robot, resolved.variables, secrets.token_hex(24))
    deployment = build_deployment(robot, resolved.checksum, replicas=1)
    for child in (build_service_account(robot), build_lease_role(robot), build_lease_role_binding(robot)):
        kubectl_run(control_plane, "apply", "-f", "-", stdin=json.dumps(without_owner(child)))

    pod: Obj = deployment["spec"]["template"]["spec"]
    assert len(pod["containers"]) == 1
    container: Obj = pod["containers"][0]
    ports = named_ports(container)
    port_map = {port: free_port() for port in ports.values()}
    downward = {"metadata.namespace": NAMESPACE, "metadata.name": POD_NAME}
    env = remap_addresses(resolve_env(container, secret, downward), port_map)
    env.update(KUBERNETES_SERVICE_HOST="127.0.0.1", KUBERNETES_SERVICE_PORT=str(control_plane.apiserver_port))
    account_dir = mount_service_account(control_plane, tmp_path / "serviceaccount", pod["serviceAccountName"])

    running = containers(
        container["image"],
        env_file=write_env_file(tmp_path / "pod.env", env),  # a file, so no value is on podman's command line
        user=f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}",
        read_only=False,  # set by podman_flags from readOnlyRootFilesystem
        tmpfs=(),
        entrypoint=json.dumps(container["command"]),
        extra=[*podman_flags(pod, container, account_dir), "--workdir", container["workingDir"], "--pull=never"],
        command=container["args"],
    )
    probes = [container[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe", "readinessProbe")]
    urls = [f"http://127.0.0.1:{port_map[ports[probe['port']]]}{probe['path']}" for probe in probes]
    wait_ready(running, urls)
    held = lease(control_plane)
    assert held is not None
    assert held["spec"]["holderIdentity"].startswith(POD_NAME)
    assert running.exec("sh", "-c", "touch /opt/x", check=False).returncode != 0
    assert running.exec("test", "-d", "custom/conf").returncode == 0
    grace = int(pod["terminationGracePeriodSeconds"])
    started = time.monotonic()
    assert running.stop(grace) == 0, running.logs()
    assert time.monotonic() - started < grace
    for name in ("GOPHER_ENCRYPTION_KEY", "GOPHER_DEPLOY_KEY", names.ROBOT_CONTROL_TOKEN):
        assert env[name] not in running.logs()


def wait_ready(container: Container, urls: list[str]) -> None:
    def all_answer() -> bool:
        assert container.running(), f"the pod's container exited:\n{container.logs()}"
        return all(http_status(url) == 200 for url in urls)

    wait_for(all_answer, f"the probes {urls}", READY_TIMEOUT_S)
