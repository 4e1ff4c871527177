"""The local control plane itself: version, RBAC, Pod Security, the controllers the operator relies on, auditing."""

from __future__ import annotations

import json
from typing import Any

from tests.cluster.conftest import Kubectl, wait_for
from tests.kubecluster import ControlPlane, service_account_kubeconfig

RESTRICTED_CONTAINER: dict[str, Any] = {
    "name": "c",
    "image": "registry.invalid/none:1",
    "securityContext": {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    },
}


def _deployment(name: str, namespace: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [RESTRICTED_CONTAINER]}},
        },
    }


def test_serves_the_pinned_release(kubectl: Kubectl, control_plane: ControlPlane) -> None:
    version = json.loads(kubectl.run("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == "v1.37.2"
    assert version["clientVersion"]["gitVersion"] == "v1.37.2"
    assert control_plane.server.startswith("https://127.0.0.1:")


def test_pod_security_restricted_refuses_a_privileged_pod(kubectl: Kubectl, namespace: str) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "root", "namespace": namespace},
        "spec": {"containers": [{"name": "c", "image": "registry.invalid/none:1"}]},
    }
    refused = kubectl.apply(pod, check=False)
    assert refused.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in refused.stderr
    compliant = {
        **pod,
        "metadata": {"name": "ok", "namespace": namespace},
        "spec": {"containers": [RESTRICTED_CONTAINER]},
    }
    kubectl.apply(compliant)


def test_rbac_denies_an_unbound_service_account(kubectl: Kubectl, namespace: str) -> None:
    user = f"system:serviceaccount:{namespace}:default"
    assert not kubectl.can_i("list", "secrets", namespace, user)
    assert not kubectl.can_i("create", "deployments", namespace, user)
    admin = kubectl.run("auth", "can-i", "create", "deployments", "-n", namespace, check=False)
    assert admin.stdout.strip() == "yes"


def test_deployment_and_garbage_collector_controllers(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(_deployment("web", namespace))

    def pods() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = kubectl.json("get", "pods", "-n", namespace, "-l", "app=web")["items"]
        return items

    wait_for(pods, "the Deployment's pod (deployment + replicaset controllers)")
    kubectl.run("delete", "deployment", "web", "-n", namespace, "--cascade=background")
    wait_for(lambda: not kubectl.json("get", "replicasets", "-n", namespace)["items"], "the ReplicaSet to be collected")
    wait_for(lambda: not pods(), "the pod to be garbage-collected")


def test_cronjob_manual_job_creates_a_pod(kubectl: Kubectl, namespace: str) -> None:
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly", "namespace": namespace},
        "spec": {
            "schedule": "0 3 * * *",
            "jobTemplate": {
                "spec": {
                    "template": {"spec": {"restartPolicy": "Never", "containers": [RESTRICTED_CONTAINER]}},
                }
            },
        },
    }
    kubectl.apply(cronjob)
    kubectl.run("create", "job", "--from=cronjob/nightly", "manual", "-n", namespace)
    pod_list = wait_for(
        lambda: kubectl.json("get", "pods", "-n", namespace, "-l", "job-name=manual")["items"], "the Job's pod"
    )
    assert pod_list[0]["metadata"]["ownerReferences"][0]["kind"] == "Job"


def test_service_account_tokens_and_root_ca_are_published(kubectl: Kubectl, namespace: str) -> None:
    token = kubectl.token("default", namespace, duration="10m")
    assert token.count(".") == 2  # a signed JWT
    ca = wait_for(lambda: kubectl.get("configmap", "kube-root-ca.crt", namespace), "kube-root-ca.crt")
    assert "BEGIN CERTIFICATE" in ca["data"]["ca.crt"]


def test_audit_log_records_service_account_writes(
    kubectl: Kubectl, namespace: str, control_plane: ControlPlane
) -> None:
    kubectl.run(
        "create", "rolebinding", "edit", "-n", namespace, "--clusterrole=edit", f"--serviceaccount={namespace}:default"
    )
    as_sa = Kubectl(kubectl.binary, service_account_kubeconfig(control_plane, namespace, "default", "10m"))
    as_sa.run("create", "configmap", "audited", "-n", namespace)
    user = f"system:serviceaccount:{namespace}:default"

    def audited() -> bool:
        for line in control_plane.audit_log.read_text().splitlines():
            event = json.loads(line)
            ref = event.get("objectRef", {})
            if event["user"]["username"] == user and ref.get("name") == "audited" and event["verb"] == "create":
                return True
        return False

    wait_for(audited, "the ServiceAccount's create in the audit log")
