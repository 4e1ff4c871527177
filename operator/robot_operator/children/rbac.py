"""The pod's identity and rights: ServiceAccount `<robot>`, Role and RoleBinding `<robot>-lease` for its own Lease.

RBAC cannot limit `create` by name: on a create request the object's name is in the body, not the URL, so the
authorizer never sees it and a rule with `resourceNames` simply never matches a create. So the Role has two rules:
`get`/`update` limited to `resourceNames: [<lease>]`, and `create` on leases without names (the runtime creates its
Lease the first time). With it the pod could create Leases of other names in its namespace, but never read, renew,
take over or delete them (that needs get/update on their names), so it cannot hold another robot's Lease: a Lease
squatted under another robot's name has no renewals and frees itself after one lease duration.
"""

from __future__ import annotations

from robot_operator import names
from robot_operator.children.common import Obj, metadata
from robot_operator.model import Robot

LEASE_API_GROUP = "coordination.k8s.io"


def build_service_account(robot: Robot) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(robot, names.service_account_name(robot.name), names.COMPONENT_LEASE),
    }


def build_lease_role(robot: Robot) -> Obj:
    """get/update on the robot's own Lease only; create on leases (cannot be restricted by name, see module doc)."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": metadata(robot, names.role_name(robot.name), names.COMPONENT_LEASE),
        "rules": [
            {
                "apiGroups": [LEASE_API_GROUP],
                "resources": ["leases"],
                "resourceNames": [names.lease_name(robot.name)],
                "verbs": ["get", "update"],
            },
            {
                "apiGroups": [LEASE_API_GROUP],
                "resources": ["leases"],
                "verbs": ["create"],
            },
        ],
    }


def build_lease_role_binding(robot: Robot) -> Obj:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": metadata(robot, names.role_binding_name(robot.name), names.COMPONENT_LEASE),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": names.role_name(robot.name),
        },
        "subjects": [
            {
                "kind": "ServiceAccount",
                "name": names.service_account_name(robot.name),
                "namespace": robot.namespace,
            }
        ],
    }
