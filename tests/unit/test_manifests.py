"""deploy/install.yaml is rendered from deploy/ by `make manifests`; the install is complete and least-privilege."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from robot_operator import manifests

ROOT = Path(__file__).resolve().parents[2]


def rendered_objects() -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(manifests.render()))


def test_install_yaml_is_not_stale() -> None:
    committed = (ROOT / "deploy" / "install.yaml").read_text(encoding="utf-8")
    assert committed == manifests.render(), "deploy/install.yaml is stale: run `make manifests`"


def test_install_holds_everything_in_kustomize_order() -> None:
    kinds = [(obj["kind"], obj["metadata"]["name"]) for obj in rendered_objects()]
    assert kinds == [
        ("Namespace", "robot-operator-system"),
        ("CustomResourceDefinition", "robots.gopherbot.io"),
        ("ServiceAccount", "robot-operator"),
        ("ClusterRole", "robot-operator"),
        ("ClusterRoleBinding", "robot-operator"),
        ("Deployment", "robot-operator"),
    ]


def test_namespace_is_applied_to_namespaced_objects_and_subjects() -> None:
    by_kind = {obj["kind"]: obj for obj in rendered_objects()}
    assert by_kind["ServiceAccount"]["metadata"]["namespace"] == "robot-operator-system"
    assert by_kind["Deployment"]["metadata"]["namespace"] == "robot-operator-system"
    assert "namespace" not in by_kind["ClusterRole"]["metadata"]
    assert "namespace" not in by_kind["CustomResourceDefinition"]["metadata"]
    assert by_kind["ClusterRoleBinding"]["subjects"][0]["namespace"] == "robot-operator-system"


def test_operator_deployment_is_single_recreate_and_restricted() -> None:
    deployment = next(obj for obj in rendered_objects() if obj["kind"] == "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = pod["containers"][0]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["image"] == "localhost/gopherbot-robot-operator:0.1.0"
    assert set(container["resources"]) == {"requests", "limits"}


def test_cluster_role_never_deletes_and_grants_lease_access_it_hands_out() -> None:
    role = next(obj for obj in rendered_objects() if obj["kind"] == "ClusterRole")
    verbs = {
        (group, resource): set(rule["verbs"])
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert all("delete" not in granted and "*" not in granted for granted in verbs.values())
    assert verbs[("coordination.k8s.io", "leases")] == {"get", "create", "update"}
    assert verbs[("batch", "jobs")] == {"get", "list", "watch"}
    assert "patch" in verbs[("gopherbot.io", "robots/status")]


def test_unsupported_kustomize_fields_are_refused(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\npatches: []\n", encoding="utf-8")
    with pytest.raises(manifests.ManifestError, match=r"kustomization.yaml: unsupported kustomize field\(s\) patches"):
        manifests.render(tmp_path)


def test_missing_resource_is_named(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: [nope.yaml]\n", encoding="utf-8")
    with pytest.raises(manifests.ManifestError, match=r"resource nope\.yaml does not exist"):
        manifests.render(tmp_path)
