"""The backup CronJob builder."""

from __future__ import annotations

from typing import Any

import pytest

from robot_operator import names
from robot_operator.children.cronjob import build_backup_cronjob

from .robots import RESTRICTED_CONTAINER, RESTRICTED_POD, child_labels, owner_refs, robot


def _pod(cronjob: dict[str, Any]) -> dict[str, Any]:
    return dict(cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"])


def test_metadata_and_schedule_defaults() -> None:
    cronjob = build_backup_cronjob(robot())
    assert cronjob["apiVersion"] == "batch/v1"
    assert cronjob["kind"] == "CronJob"
    assert cronjob["metadata"] == {
        "name": "floyd-backup",
        "namespace": "bots",
        "labels": child_labels("backup"),
        "ownerReferences": owner_refs(),
    }
    spec = cronjob["spec"]
    assert {key: spec[key] for key in spec if key != "jobTemplate"} == {
        "schedule": "0 * * * *",
        "timeZone": "Etc/UTC",
        "suspend": False,
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 300,
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 3,
    }
    job = spec["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] == 600
    assert job["backoffLimit"] == 1
    assert spec["jobTemplate"]["metadata"]["labels"] == child_labels("backup")
    assert job["template"]["metadata"]["labels"] == child_labels("backup")


def test_backup_spec_is_applied() -> None:
    backup = {"schedule": "*/15 * * * *", "timeoutSeconds": 120, "historyLimit": 5}
    spec = build_backup_cronjob(robot(backup=backup))["spec"]
    assert spec["schedule"] == "*/15 * * * *"
    assert spec["successfulJobsHistoryLimit"] == spec["failedJobsHistoryLimit"] == 5
    assert spec["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 120


@pytest.mark.parametrize(
    ("spec", "suspended"),
    [({}, False), ({"suspend": True}, True), ({"backup": {"suspend": True}}, True), ({"suspend": False}, False)],
)
def test_suspend_follows_robot_or_backup(spec: dict[str, Any], suspended: bool) -> None:
    assert build_backup_cronjob(robot(**spec))["spec"]["suspend"] is suspended


def test_job_pod_calls_the_robot_with_only_the_token() -> None:
    pod = _pod(build_backup_cronjob(robot()))
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"] == RESTRICTED_POD
    [container] = pod["containers"]
    assert container["name"] == "backup"
    assert container["image"] == "localhost/gopherbot-robot:0.1.0"
    assert container["command"] == [
        "robot-runtime",
        "backup",
        "--remote",
        "http://floyd.bots.svc:8080",
        "--result-file",
        "/dev/termination-log",
    ]
    assert container["env"] == [
        {
            "name": "ROBOT_CONTROL_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": "floyd-env", "key": "ROBOT_CONTROL_TOKEN"}},
        }
    ]
    assert "envFrom" not in container
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["securityContext"] == RESTRICTED_CONTAINER
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}]


def test_job_uses_the_robots_image_and_scheduling() -> None:
    spec: dict[str, Any] = {
        "image": "registry.example/robot:2",
        "imagePullPolicy": "IfNotPresent",
        "nodeSelector": {"pool": "bots"},
        "tolerations": [{"key": "bots", "operator": "Exists"}],
        "affinity": {"podAntiAffinity": {}},
    }
    pod = _pod(build_backup_cronjob(robot(**spec)))
    assert pod["containers"][0]["image"] == "registry.example/robot:2"
    assert pod["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert pod["nodeSelector"] == {"pool": "bots"}
    assert pod["tolerations"] == [{"key": "bots", "operator": "Exists"}]
    assert "affinity" not in pod


def test_long_robot_names_give_cronjob_names_within_52_characters() -> None:
    long_a = "a" * 50 + "-one"
    long_b = "a" * 50 + "-two"
    name_a = build_backup_cronjob(robot(long_a))["metadata"]["name"]
    name_b = build_backup_cronjob(robot(long_b))["metadata"]["name"]
    assert len(name_a) <= 52
    assert len(name_b) <= 52
    assert name_a != name_b
    assert name_a.endswith("-backup")
    assert name_a == names.cronjob_name(long_a)
    assert build_backup_cronjob(robot("b" * 45))["metadata"]["name"] == "b" * 45 + "-backup"


def test_caller_can_suspend_backups_of_a_robot_that_may_not_run() -> None:
    assert build_backup_cronjob(robot(), suspend=True)["spec"]["suspend"] is True
    assert build_backup_cronjob(robot(), suspend=False)["spec"]["suspend"] is False
