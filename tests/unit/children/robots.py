"""Robot values for the builder tests."""

from __future__ import annotations

from typing import Any

from robot_operator.model import Robot

UID = "0b9c1f0e-2f5a-4f7e-9d7e-1234567890ab"


def robot(name: str = "floyd", namespace: str = "bots", **spec: Any) -> Robot:
    """A Robot parsed from a resource dict, as the operator gets it."""
    return Robot.from_resource(
        {
            "apiVersion": "gopherbot.io/v1alpha1",
            "kind": "Robot",
            "metadata": {"name": name, "namespace": namespace, "uid": UID, "generation": 1},
            "spec": {"envFrom": {"secretName": f"{name}-dotenv"}, **spec},
        }
    )


def owner_refs(name: str = "floyd") -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "gopherbot.io/v1alpha1",
            "kind": "Robot",
            "name": name,
            "uid": UID,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def child_labels(component: str, name: str = "floyd") -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "robot",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": "robot-operator",
        "app.kubernetes.io/part-of": "gopherbot",
    }


RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_POD = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "runAsGroup": 10001,
    "fsGroup": 10001,
    "seccompProfile": {"type": "RuntimeDefault"},
}
