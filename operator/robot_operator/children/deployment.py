"""The Deployment `<robot>`: at most one robot pod, restricted, probed, rolled when its variables change.

Choices: `Recreate` (the old pod is gone before a new one starts: never two copies, the Lease is the second guard);
`enableServiceLinks: false` (no Service variables leak into Gopherbot's environment); a memory-backed /tmp and an
emptyDir robot home under a read-only root filesystem; a startup probe that allows
`STARTUP_SECONDS` for clone + restore before liveness counts; a grace period long enough for the final backup.
"""

from __future__ import annotations

import copy
from typing import Final

from robot_operator import names
from robot_operator.children.common import (
    Obj,
    container_security_context,
    image_fields,
    labels,
    metadata,
    pod_security_context,
    scheduling,
    selector_labels,
    tmp_mount,
    tmp_volume,
)
from robot_operator.model import Robot

TERMINATION_GRACE_SECONDS: Final = 120
PROBE_PERIOD_SECONDS: Final = 10
STARTUP_SECONDS: Final = 600
HEALTH_PATH: Final = "/healthz"
RUN_COMMAND: Final = ("robot-runtime", "run", "--")
"""The image's ENTRYPOINT, spelled out so the pod does not depend on it; `args` is the command it supervises."""
READY_PATH: Final = "/readyz"


def build_deployment(robot: Robot, env_checksum: str, replicas: int) -> Obj:
    """The robot's Deployment; `replicas` is 1, or 0 when suspended, in conflict or invalid (the caller decides)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(robot, names.deployment_name(robot.name), names.COMPONENT_ROBOT),
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 3,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector_labels(robot, names.COMPONENT_ROBOT)},
            "template": {
                "metadata": {
                    "labels": {**robot.pod_labels, **labels(robot, names.COMPONENT_ROBOT)},
                    "annotations": {**robot.pod_annotations, names.ENV_CHECKSUM_ANNOTATION: env_checksum},
                },
                "spec": _pod_spec(robot),
            },
        },
    }


def _pod_spec(robot: Robot) -> Obj:
    return {
        "serviceAccountName": names.service_account_name(robot.name),
        "automountServiceAccountToken": True,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
        "securityContext": pod_security_context(),
        "containers": [_robot_container(robot)],
        "volumes": [{"name": "home", "emptyDir": {}}, tmp_volume()],
        **scheduling(robot),
    }


def _robot_container(robot: Robot) -> Obj:
    container: Obj = {
        "name": names.CONTAINER_NAME,
        **image_fields(robot),
        "command": list(RUN_COMMAND),
        "args": [names.GOPHERBOT_BINARY],
        "workingDir": names.ROBOT_HOME,
        "envFrom": [{"secretRef": {"name": names.env_secret_name(robot.name)}}],
        "env": _operator_env(robot),
        "ports": [{"name": names.CONTROL_PORT_NAME, "containerPort": names.CONTROL_PORT, "protocol": "TCP"}],
        "startupProbe": _http_probe(HEALTH_PATH, failures=STARTUP_SECONDS // PROBE_PERIOD_SECONDS),
        "livenessProbe": _http_probe(HEALTH_PATH, failures=3),
        "readinessProbe": _http_probe(READY_PATH, failures=3),
        "securityContext": container_security_context(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"name": "home", "mountPath": names.ROBOT_HOME}, tmp_mount()],
    }
    if robot.resources:
        container["resources"] = copy.deepcopy(robot.resources)
    return container


def _operator_env(robot: Robot) -> list[Obj]:
    """Non-secret settings the operator gives the runtime (they override same-named variables of the env Secret)."""
    return [
        {"name": names.ROBOT_HOME_VAR, "value": names.ROBOT_HOME},
        {"name": names.ROBOT_CONTROL_ADDR, "value": f":{names.CONTROL_PORT}"},
        {"name": names.ROBOT_LEASE_NAME, "value": names.lease_name(robot.name)},
        {
            "name": names.ROBOT_LEASE_NAMESPACE,
            "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}},
        },
    ]


def _http_probe(path: str, *, failures: int) -> Obj:
    return {
        "httpGet": {"path": path, "port": names.CONTROL_PORT_NAME, "scheme": "HTTP"},
        "periodSeconds": PROBE_PERIOD_SECONDS,
        "timeoutSeconds": 5,
        "successThreshold": 1,
        "failureThreshold": failures,
    }
