"""ServiceAccount, Role and RoleBinding for the pod's own Lease."""

from __future__ import annotations

from robot_operator.children.rbac import build_lease_role, build_lease_role_binding, build_service_account

from .robots import child_labels, owner_refs, robot


def _meta(name: str) -> dict[str, object]:
    return {"name": name, "namespace": "bots", "labels": child_labels("lease"), "ownerReferences": owner_refs()}


def test_service_account() -> None:
    assert build_service_account(robot()) == {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta("floyd")}


def test_role_grants_get_update_on_its_own_lease_and_create() -> None:
    role = build_lease_role(robot())
    assert role["apiVersion"] == "rbac.authorization.k8s.io/v1"
    assert role["kind"] == "Role"
    assert role["metadata"] == _meta("floyd-lease")
    assert role["rules"] == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["floyd"],
            "verbs": ["get", "update"],
        },
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
    ]


def test_no_rule_grants_more_than_leases() -> None:
    verbs = set()
    for rule in build_lease_role(robot())["rules"]:
        assert rule["apiGroups"] == ["coordination.k8s.io"]
        assert rule["resources"] == ["leases"]
        verbs.update(rule["verbs"])
        assert "resourceNames" in rule or rule["verbs"] == ["create"]
    assert verbs == {"get", "update", "create"}


def test_role_binding_binds_the_service_account() -> None:
    assert build_lease_role_binding(robot()) == {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta("floyd-lease"),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "floyd-lease"},
        "subjects": [{"kind": "ServiceAccount", "name": "floyd", "namespace": "bots"}],
    }
