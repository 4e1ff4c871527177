"""Reconcile decisions without a cluster: the subset comparison, merge patches, the control token, backup results.

The writes themselves are exercised against a real API server in tests/cluster/test_operator_smoke.py.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest

from robot_operator import backups, diff, names, reconcile
from robot_operator.children import cronjob, deployment, rbac, secret, service
from tests.unit.children.robots import robot

SECRET_VALUE = "s3cr3t-value-never-logged"


def server_side(obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` as an API server returns it: metadata and defaults added, status present."""
    live = copy.deepcopy(obj)
    live["metadata"].update(
        {
            "uid": "u-1",
            "resourceVersion": "42",
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "managedFields": [{"manager": "robot-operator"}],
        }
    )
    live["status"] = {"observedGeneration": 3}
    if live["kind"] == "Deployment":
        pod = live["spec"]["template"]["spec"]
        pod.update({"dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler"})
        for container in pod["containers"]:
            container.update({"terminationMessagePath": "/dev/termination-log", "imagePullPolicy": "IfNotPresent"})
        live["spec"]["progressDeadlineSeconds"] = 600
    if live["kind"] == "Service":
        live["spec"].update({"clusterIP": "10.0.0.12", "clusterIPs": ["10.0.0.12"], "sessionAffinity": "None"})
        for port in live["spec"]["ports"]:
            port.setdefault("protocol", "TCP")
    return live


def desired_children() -> list[dict[str, Any]]:
    floyd = robot(resources={"limits": {"cpu": "0.5", "memory": "1Gi"}})
    return [
        secret.build_env_secret(floyd, {"GOPHER_ENCRYPTION_KEY": SECRET_VALUE}, "token-1"),
        rbac.build_service_account(floyd),
        rbac.build_lease_role(floyd),
        rbac.build_lease_role_binding(floyd),
        service.build_service(floyd),
        deployment.build_deployment(floyd, "abc123", 1),
        cronjob.build_backup_cronjob(floyd),
    ]


@pytest.mark.parametrize("desired", desired_children(), ids=lambda obj: str(obj["kind"]))
def test_a_child_as_the_server_returns_it_needs_no_write(desired: dict[str, Any]) -> None:
    assert diff.child_differences(desired, server_side(desired)) == []


def test_scaled_deployment_is_drift_at_spec_replicas() -> None:
    desired = deployment.build_deployment(robot(), "abc123", 1)
    live = server_side(desired)
    live["spec"]["replicas"] = 2
    assert diff.child_differences(desired, live) == ["spec.replicas"]
    assert diff.merge_patch(desired, live)["spec"]["replicas"] == 1


def test_changed_checksum_annotation_is_drift() -> None:
    live = server_side(deployment.build_deployment(robot(), "old", 1))
    desired = deployment.build_deployment(robot(), "new", 1)
    assert diff.child_differences(desired, live) == [
        f"spec.template.metadata.annotations.{names.ENV_CHECKSUM_ANNOTATION}"
    ]


def test_labels_and_annotations_added_by_others_are_not_drift() -> None:
    desired = deployment.build_deployment(robot(), "abc123", 1)
    live = server_side(desired)
    live["metadata"]["labels"]["team"] = "chat"
    live["spec"]["template"]["metadata"].setdefault("annotations", {})["kubectl.kubernetes.io/restartedAt"] = "now"
    assert diff.child_differences(desired, live) == []


def test_a_removed_label_is_drift() -> None:
    desired = service.build_service(robot())
    live = server_side(desired)
    del live["metadata"]["labels"][names.LABEL_MANAGED_BY]
    assert diff.child_differences(desired, live) == [f"metadata.labels.{names.LABEL_MANAGED_BY}"]


def test_secret_data_is_compared_exactly_and_extra_keys_are_removed_by_the_patch() -> None:
    desired = secret.build_env_secret(robot(), {"A": "1"}, "token-1")
    live = server_side(desired)
    live["data"]["INJECTED"] = base64.b64encode(b"x").decode()
    assert diff.child_differences(desired, live) == ["data.INJECTED"]
    assert diff.merge_patch(desired, live)["data"]["INJECTED"] is None


def test_secret_differences_name_paths_never_values() -> None:
    desired = secret.build_env_secret(robot(), {"GOPHER_ENCRYPTION_KEY": SECRET_VALUE}, "token-1")
    live = server_side(desired)
    live["data"]["GOPHER_ENCRYPTION_KEY"] = base64.b64encode(b"another-value").decode()
    found = diff.child_differences(desired, live)
    assert found == ["data.GOPHER_ENCRYPTION_KEY"]
    assert SECRET_VALUE not in repr(found)
    assert base64.b64encode(SECRET_VALUE.encode()).decode() not in repr(found)


def test_string_data_compares_as_the_base64_data_the_server_stores() -> None:
    desired: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "x"},
        "stringData": {"A": "1"},
    }
    live: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "data": {"A": "MQ=="}}
    assert diff.child_differences(desired, live) == []
    live["data"]["A"] = "Mg=="
    assert diff.child_differences(desired, live) == ["data.A"]


@pytest.mark.parametrize(
    ("want", "have", "same"),
    [
        ("0.5", "500m", True),
        ("1Gi", "1024Mi", True),
        (1, "1", True),
        ("1", "1000m", True),
        ("100m", "0.2", False),
        ("1G", "1Gi", False),
    ],
)
def test_quantities_under_resources_compare_by_value(want: object, have: object, same: bool) -> None:
    path = "spec.template.spec.containers[0].resources.limits.cpu"
    assert diff.scalars_equal(want, have, path) is same


def test_quantities_elsewhere_compare_exactly() -> None:
    assert not diff.scalars_equal("0.5", "500m", "metadata.labels.size")
    assert not diff.scalars_equal(1, True, "spec.x")


def test_lists_must_match_in_length_and_order() -> None:
    assert diff.differences({"a": [1, 2]}, {"a": [1, 2, 3]}) == ["a"]
    assert diff.differences({"a": [{"x": 1}]}, {"a": [{"x": 1, "server": "default"}]}) == []
    assert diff.differences({"a": [{"x": 1}]}, {"a": [{"x": 2}]}) == ["a[0].x"]


def test_empty_desired_values_match_absent_live_ones() -> None:
    assert diff.differences({"nodeSelector": {}, "tolerations": [], "x": None}, {}) == []
    assert diff.differences({"suspend": False}, {}) == ["suspend"]


def test_recreate_strategy_patch_removes_rolling_update() -> None:
    desired = deployment.build_deployment(robot(), "abc123", 1)
    live = server_side(desired)
    live["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}
    assert set(diff.child_differences(desired, live)) == {"spec.strategy.type", "spec.strategy.rollingUpdate"}
    assert diff.merge_patch(desired, live)["spec"]["strategy"] == {"type": "Recreate", "rollingUpdate": None}


def test_merge_patch_leaves_server_fields_alone() -> None:
    desired = service.build_service(robot())
    patch = diff.merge_patch(desired, server_side(desired))
    assert "status" not in patch
    assert set(patch["metadata"]) <= {"labels", "annotations", "ownerReferences"}
    assert "clusterIP" not in patch["spec"]


def test_control_token_is_kept_from_the_live_secret() -> None:
    live = server_side(secret.build_env_secret(robot(), {"A": "1"}, "kept-token"))
    assert reconcile.existing_control_token(live) == "kept-token"
    assert reconcile.existing_control_token(None) is None
    assert reconcile.existing_control_token({"data": {}}) is None


def test_new_control_tokens_are_random_and_long() -> None:
    tokens = {reconcile.new_control_token() for _ in range(20)}
    assert len(tokens) == 20
    assert all(len(token) >= 40 for token in tokens)


def test_secret_data_is_decoded_to_bytes() -> None:
    data = reconcile.decoded_secret_data({"data": {".env": base64.b64encode(b"A=1\n").decode()}})
    assert data == {".env": b"A=1\n"}


# --- backup Jobs ---------------------------------------------------------------------------------------------------
def finished_job(kind: str = "Complete", name: str = "floyd-backup-1", when: str = "2026-01-02T03:04:05Z") -> Any:
    return {
        "metadata": {"name": name, "namespace": "bots", "labels": {names.LABEL_INSTANCE: "floyd"}},
        "status": {
            "completionTime": when,
            "conditions": [{"type": kind, "status": "True", "lastTransitionTime": when}],
        },
    }


def backup_pod(message: str | None, created: str = "2026-01-02T03:00:00Z") -> dict[str, Any]:
    terminated: dict[str, Any] = {"exitCode": 0}
    if message is not None:
        terminated["message"] = message
    return {
        "metadata": {"name": "p", "creationTimestamp": created},
        "status": {"containerStatuses": [{"name": names.BACKUP_CONTAINER_NAME, "state": {"terminated": terminated}}]},
    }


def test_a_running_job_has_no_outcome() -> None:
    job = finished_job()
    job["status"] = {"active": 1}
    assert backups.finished_at(job) is None
    assert backups.outcome_of(job, []) is None


def test_outcome_comes_from_the_termination_message() -> None:
    message = json.dumps({"result": "Pushed", "commit": "abc", "message": "1 file"})
    outcome = backups.outcome_of(finished_job(), [backup_pod(message)])
    assert outcome == backups.BackupOutcome("floyd-backup-1", "2026-01-02T03:04:05Z", "Pushed", "abc", "1 file")


def test_newest_pod_with_a_result_wins() -> None:
    old = backup_pod(json.dumps({"result": "Failed", "message": "push rejected"}), "2026-01-02T03:00:00Z")
    new = backup_pod(json.dumps({"result": "NoChanges", "message": ""}), "2026-01-02T03:01:00Z")
    outcome = backups.outcome_of(finished_job(), [old, new])
    assert outcome is not None
    assert outcome.result == "NoChanges"


@pytest.mark.parametrize("message", [None, "not json", json.dumps({"result": "Maybe"}), "Traceback ..."])
def test_a_job_without_a_result_is_a_failure_naming_the_job(message: str | None) -> None:
    outcome = backups.outcome_of(finished_job("Failed"), [backup_pod(message)])
    assert outcome is not None
    assert outcome.result == "Failed"
    assert outcome.message == "backup Job floyd-backup-1 failed without a result message"


def test_status_patch_sets_last_backup_condition_and_success_time() -> None:
    outcome = backups.BackupOutcome("j1", "2026-01-02T03:04:05Z", "Pushed", "abc", "ok")
    robot_obj = {
        "metadata": {"generation": 4},
        "status": {
            "conditions": [
                {"type": "Ready", "status": "True"},
                {"type": names.CONDITION_LAST_BACKUP_SUCCEEDED, "status": "True", "lastTransitionTime": "earlier"},
            ]
        },
    }
    patch = backups.status_patch(robot_obj, outcome)["status"]
    assert patch["lastBackup"] == {
        "job": "j1",
        "time": "2026-01-02T03:04:05Z",
        "result": "Pushed",
        "commit": "abc",
        "message": "ok",
    }
    assert patch["lastSuccessfulBackupTime"] == "2026-01-02T03:04:05Z"
    backup_condition = patch["conditions"][1]
    assert backup_condition["status"] == "True"
    assert backup_condition["lastTransitionTime"] == "earlier"
    assert backup_condition["observedGeneration"] == 4
    assert patch["conditions"][0] == {"type": "Ready", "status": "True"}


def test_a_failed_backup_keeps_the_last_success_time() -> None:
    outcome = backups.BackupOutcome("j2", "2026-01-02T04:00:00Z", "Failed", None, "push rejected")
    patch = backups.status_patch({"metadata": {}, "status": {}}, outcome)["status"]
    assert "lastSuccessfulBackupTime" not in patch
    assert patch["conditions"][0]["status"] == "False"
    assert "commit" not in patch["lastBackup"]


def test_recorded_or_older_jobs_are_ignored() -> None:
    outcome = backups.BackupOutcome("j1", "2026-01-02T03:04:05Z", "Pushed", "abc", "ok")
    assert backups.already_recorded({"lastBackup": {"job": "j1", "time": "x"}}, outcome)
    assert backups.already_recorded({"lastBackup": {"job": "j0", "time": "2026-01-03T00:00:00Z"}}, outcome)
    assert not backups.already_recorded({"lastBackup": {"job": "j0", "time": "2026-01-01T00:00:00Z"}}, outcome)
    assert not backups.already_recorded({}, outcome)


def test_status_patches_are_guarded_by_the_resource_version() -> None:
    body = {"metadata": {"name": "floyd", "namespace": "bots", "resourceVersion": "7"}}
    assert reconcile.status_patch(body, {"phase": "Running"}) == {
        "status": {"phase": "Running"},
        "metadata": {"resourceVersion": "7"},
    }
    outcome = backups.BackupOutcome("j1", "t", "NoChanges", None, "")
    assert backups.status_patch({**body, "status": {}}, outcome)["metadata"] == {"resourceVersion": "7"}


def test_api_errors_are_classified_without_the_request_body() -> None:
    from kubernetes.client.exceptions import ApiException

    from robot_operator import kube

    def error(status: int, message: str, method: str = "POST") -> kube.KubeError:
        body = json.dumps({"kind": "Status", "message": message, "details": {"value": SECRET_VALUE}})
        return kube.Kube.error_for(method, ApiException(status=status, reason="x", body=body))

    terminating = error(
        403, 'services "x" is forbidden: unable to create new content in namespace t because it is being terminated'
    )
    assert isinstance(terminating, kube.NamespaceTerminating)
    assert isinstance(error(409, "exists"), kube.AlreadyExists)
    assert isinstance(error(409, "changed", "PATCH"), kube.Conflict)
    plain = error(422, "Secret is invalid")
    assert type(plain) is kube.KubeError
    assert plain.status == 422
    assert str(plain) == "Secret is invalid"
    assert SECRET_VALUE not in str(plain)
