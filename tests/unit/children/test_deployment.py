"""The robot Deployment builder."""

from __future__ import annotations

from typing import Any

import pytest

from robot_operator.children.deployment import build_deployment

from .robots import RESTRICTED_CONTAINER, RESTRICTED_POD, child_labels, owner_refs, robot


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def test_metadata_and_strategy() -> None:
    deployment = build_deployment(robot(), "abc123", 1)
    assert deployment["apiVersion"] == "apps/v1"
    assert deployment["kind"] == "Deployment"
    assert deployment["metadata"] == {
        "name": "floyd",
        "namespace": "bots",
        "labels": child_labels("robot"),
        "ownerReferences": owner_refs(),
    }
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    assert spec["selector"] == {
        "matchLabels": {
            "app.kubernetes.io/name": "robot",
            "app.kubernetes.io/instance": "floyd",
            "app.kubernetes.io/component": "robot",
        }
    }


@pytest.mark.parametrize("replicas", [0, 1])
def test_replicas_are_the_callers(replicas: int) -> None:
    assert build_deployment(robot(), "c", replicas)["spec"]["replicas"] == replicas


def test_checksum_annotation_rolls_the_pod() -> None:
    first = build_deployment(robot(), "sum-1", 1)["spec"]["template"]["metadata"]
    second = build_deployment(robot(), "sum-2", 1)["spec"]["template"]["metadata"]
    assert first["annotations"] == {"gopherbot.io/env-checksum": "sum-1"}
    assert second["annotations"]["gopherbot.io/env-checksum"] == "sum-2"
    assert first["labels"] == child_labels("robot")


def test_pod_annotations_and_labels_are_added_but_ours_win() -> None:
    spec: dict[str, Any] = {
        "podAnnotations": {"team": "ops", "gopherbot.io/env-checksum": "forged"},
        "podLabels": {"tier": "bots", "app.kubernetes.io/instance": "forged"},
    }
    template = build_deployment(robot(**spec), "real", 1)["spec"]["template"]["metadata"]
    assert template["annotations"] == {"team": "ops", "gopherbot.io/env-checksum": "real"}
    assert template["labels"] == {"tier": "bots", **child_labels("robot")}


def test_restricted_pod_security() -> None:
    pod = build_deployment(robot(), "c", 1)["spec"]["template"]["spec"]
    assert pod["securityContext"] == RESTRICTED_POD
    assert _container(build_deployment(robot(), "c", 1))["securityContext"] == RESTRICTED_CONTAINER
    assert pod["volumes"] == [
        {"name": "home", "emptyDir": {}},
        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
    ]
    assert _container(build_deployment(robot(), "c", 1))["volumeMounts"] == [
        {"name": "home", "mountPath": "/home/robot"},
        {"name": "tmp", "mountPath": "/tmp"},
    ]


def test_pod_identity_and_lifecycle() -> None:
    pod = build_deployment(robot(), "c", 1)["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "floyd"
    assert pod["automountServiceAccountToken"] is True
    assert pod["enableServiceLinks"] is False
    assert pod["terminationGracePeriodSeconds"] >= 120
    assert "nodeSelector" not in pod
    assert "tolerations" not in pod
    assert "affinity" not in pod


def test_container_runs_gopherbot_under_the_runtime() -> None:
    container = _container(build_deployment(robot(), "c", 1))
    assert container["name"] == "robot"
    assert container["image"] == "localhost/gopherbot-robot:0.1.0"
    assert "imagePullPolicy" not in container
    assert container["command"] == ["robot-runtime", "run", "--"]
    assert container["args"] == ["/opt/gopherbot/gopherbot"]
    assert container["workingDir"] == "/home/robot"
    assert container["envFrom"] == [{"secretRef": {"name": "floyd-env"}}]
    assert container["env"] == [
        {"name": "ROBOT_HOME", "value": "/home/robot"},
        {"name": "ROBOT_CONTROL_ADDR", "value": ":8080"},
        {"name": "ROBOT_LEASE_NAME", "value": "floyd"},
        {
            "name": "ROBOT_LEASE_NAMESPACE",
            "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}},
        },
    ]
    assert container["ports"] == [{"name": "control", "containerPort": 8080, "protocol": "TCP"}]
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert "resources" not in container


def test_probes_on_the_control_port() -> None:
    container = _container(build_deployment(robot(), "c", 1))
    assert container["livenessProbe"] == {
        "httpGet": {"path": "/healthz", "port": "control", "scheme": "HTTP"},
        "periodSeconds": 10,
        "timeoutSeconds": 5,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "control", "scheme": "HTTP"}
    startup = container["startupProbe"]
    assert startup["httpGet"]["path"] == "/healthz"
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300


def test_spec_scheduling_image_and_resources_are_passed_through() -> None:
    spec: dict[str, Any] = {
        "image": "registry.example/robot:2",
        "imagePullPolicy": "Always",
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "bots", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}},
    }
    deployment = build_deployment(robot(**spec), "c", 1)
    pod = deployment["spec"]["template"]["spec"]
    container = _container(deployment)
    assert container["image"] == "registry.example/robot:2"
    assert container["imagePullPolicy"] == "Always"
    assert container["resources"] == spec["resources"]
    assert pod["nodeSelector"] == spec["nodeSelector"]
    assert pod["tolerations"] == spec["tolerations"]
    assert pod["affinity"] == spec["affinity"]


def test_builder_does_not_alias_the_robots_spec() -> None:
    source = robot(nodeSelector={"a": "b"})
    deployment = build_deployment(source, "c", 1)
    deployment["spec"]["template"]["spec"]["nodeSelector"]["a"] = "changed"
    assert source.node_selector == {"a": "b"}
