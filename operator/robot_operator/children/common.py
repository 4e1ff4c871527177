"""What every child shares: labels, the owner reference to its Robot, metadata, and the restricted security context."""

from __future__ import annotations

import copy
from typing import Any

from robot_operator import names
from robot_operator.model import Robot

Obj = dict[str, Any]


def selector_labels(robot: Robot, component: str) -> dict[str, str]:
    """The labels that select a child's pods: stable for the Robot's life (a Deployment's selector is immutable)."""
    return {
        names.LABEL_NAME: names.APP_NAME,
        names.LABEL_INSTANCE: robot.name,
        names.LABEL_COMPONENT: component,
    }


def labels(robot: Robot, component: str) -> dict[str, str]:
    """The app.kubernetes.io labels of a child (the operator finds its children by name+instance+managed-by)."""
    return {
        **selector_labels(robot, component),
        names.LABEL_MANAGED_BY: names.MANAGER,
        names.LABEL_PART_OF: names.PART_OF,
    }


def owner_reference(robot: Robot) -> Obj:
    """The controller owner reference to the Robot: deleting the Robot deletes the child."""
    return {
        "apiVersion": names.API_VERSION,
        "kind": names.KIND,
        "name": robot.name,
        "uid": robot.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def metadata(robot: Robot, name: str, component: str, annotations: dict[str, str] | None = None) -> Obj:
    """A child's metadata: exact name, the Robot's namespace, labels and owner reference (annotations if any)."""
    meta: Obj = {
        "name": name,
        "namespace": robot.namespace,
        "labels": labels(robot, component),
        "ownerReferences": [owner_reference(robot)],
    }
    if annotations:
        meta["annotations"] = annotations
    return meta


def pod_security_context() -> Obj:
    """Pod-level settings of the `restricted` Pod Security Standard, with the robot image's fixed uid/gid."""
    return {
        "runAsNonRoot": True,
        "runAsUser": names.ROBOT_UID,
        "runAsGroup": names.ROBOT_GID,
        "fsGroup": names.ROBOT_GID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> Obj:
    """Container-level settings of the `restricted` Pod Security Standard, plus a read-only root filesystem."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def tmp_volume() -> Obj:
    """A memory-backed /tmp (decrypted keys are only ever written to memory-backed or per-run storage)."""
    return {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}


def tmp_mount() -> Obj:
    return {"name": "tmp", "mountPath": "/tmp"}  # noqa: S108 (a mount point for the pod's own emptyDir)


def image_fields(robot: Robot) -> Obj:
    """`image`, and `imagePullPolicy` when the spec sets one (else Kubernetes' default for the tag applies)."""
    fields: Obj = {"image": robot.image}
    if robot.image_pull_policy:
        fields["imagePullPolicy"] = robot.image_pull_policy
    return fields


def scheduling(robot: Robot, *, with_affinity: bool = True) -> Obj:
    """nodeSelector, tolerations (and affinity) from the spec, only those that are set."""
    fields: Obj = {}
    if robot.node_selector:
        fields["nodeSelector"] = dict(robot.node_selector)
    if robot.tolerations:
        fields["tolerations"] = copy.deepcopy(robot.tolerations)
    if with_affinity and robot.affinity:
        fields["affinity"] = copy.deepcopy(robot.affinity)
    return fields
