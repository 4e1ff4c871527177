"""The control Service builder."""

from __future__ import annotations

from robot_operator.children.deployment import build_deployment
from robot_operator.children.service import build_service

from .robots import child_labels, owner_refs, robot


def test_service_exposes_the_control_port() -> None:
    assert build_service(robot()) == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "floyd",
            "namespace": "bots",
            "labels": child_labels("control"),
            "ownerReferences": owner_refs(),
        },
        "spec": {
            "type": "ClusterIP",
            "selector": {
                "app.kubernetes.io/name": "robot",
                "app.kubernetes.io/instance": "floyd",
                "app.kubernetes.io/component": "robot",
            },
            "ports": [{"name": "control", "port": 8080, "targetPort": "control", "protocol": "TCP"}],
        },
    }


def test_service_selects_the_deployments_pods_only() -> None:
    selector = build_service(robot())["spec"]["selector"]
    pod_labels = build_deployment(robot(), "c", 1)["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()
    other = build_deployment(robot("bishop"), "c", 1)["spec"]["template"]["metadata"]["labels"]
    assert not selector.items() <= other.items()
