"""Backup Jobs: when one finishes, copy its JSON result (the container's termination message) into the Robot.

The backup container (`robot-runtime backup --remote ...`) writes `{"result": "Pushed"|"NoChanges"|"Failed",
"commit": ..., "message": ...}` to its termination-message file. The operator reads it from the Job's pod and sets
`status.lastBackup`, `status.lastSuccessfulBackupTime` and the LastBackupSucceeded condition, and posts an event.
Idempotent: a Job already recorded (same name in `status.lastBackup.job`) or older than the recorded backup is
ignored, so replays of Job events write nothing.

The result format is parsed here rather than imported from robot_runtime: the operator and the runtime do not
import each other (they agree on the JSON, see robot_runtime.results.BackupResult).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from robot_operator import kube, metrics, names
from robot_operator.reconcile import Recorder, robot_lock

log = logging.getLogger(__name__)

Obj = dict[str, Any]
RESULTS: Final = ("Pushed", "NoChanges", "Failed")
JOB_NAME_LABELS: Final = ("batch.kubernetes.io/job-name", "job-name")
MAX_MESSAGE: Final = 1024


@dataclass(frozen=True)
class BackupOutcome:
    """One finished backup as the operator records it."""

    job: str
    time: str
    result: str
    commit: str | None
    message: str

    @property
    def ok(self) -> bool:
        return self.result != "Failed"

    def as_status(self) -> Obj:
        entry: Obj = {"job": self.job, "time": self.time, "result": self.result, "message": self.message}
        if self.commit:
            entry["commit"] = self.commit
        return entry


def finished_at(job: Mapping[str, Any]) -> tuple[bool, str] | None:
    """(succeeded, time) of a finished Job, None while it runs."""
    job_status = job.get("status") or {}
    for condition in job_status.get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            when = job_status.get("completionTime") or condition.get("lastTransitionTime") or ""
            return condition["type"] == "Complete", str(when)
    return None


def parse_result(text: str) -> tuple[str, str | None, str] | None:
    """(result, commit, message) from a termination message, None when it is not a backup result."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("result") not in RESULTS:
        return None
    commit = data.get("commit")
    message = " ".join(str(data.get("message") or "").split())[:MAX_MESSAGE]
    return str(data["result"]), str(commit) if commit else None, message


def termination_message(pod: Mapping[str, Any]) -> str | None:
    """The backup container's termination message in a pod, when it has terminated with one."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    for container in statuses:
        if container.get("name") != names.BACKUP_CONTAINER_NAME:
            continue
        for state_key in ("state", "lastState"):
            terminated = (container.get(state_key) or {}).get("terminated") or {}
            if terminated.get("message"):
                return str(terminated["message"])
    return None


def outcome_of(job: Mapping[str, Any], pods: list[Obj]) -> BackupOutcome | None:
    """The outcome of a finished Job from its pods (newest first); None while the Job runs."""
    finished = finished_at(job)
    if finished is None:
        return None
    succeeded, when = finished
    job_name = str(job["metadata"]["name"])
    newest_first = sorted(pods, key=lambda pod: str(pod["metadata"].get("creationTimestamp", "")), reverse=True)
    for pod in newest_first:
        message = termination_message(pod)
        parsed = parse_result(message) if message else None
        if parsed:
            result, commit, text = parsed
            return BackupOutcome(job_name, when, result, commit, text)
    detail = "succeeded" if succeeded else "failed"
    return BackupOutcome(job_name, when, "Failed", None, f"backup Job {job_name} {detail} without a result message")


def already_recorded(robot_status: Mapping[str, Any], outcome: BackupOutcome) -> bool:
    last = robot_status.get("lastBackup") or {}
    return last.get("job") == outcome.job or str(last.get("time") or "") > outcome.time


def with_condition(conditions: list[Obj], condition: Obj) -> list[Obj]:
    """`conditions` with `condition` in place of the one of its type (lastTransitionTime kept if status is the same)."""
    result: list[Obj] = []
    replaced = False
    for existing in conditions:
        if existing.get("type") == condition["type"]:
            if existing.get("status") == condition["status"] and existing.get("lastTransitionTime"):
                condition = {**condition, "lastTransitionTime": existing["lastTransitionTime"]}
            result.append(condition)
            replaced = True
        else:
            result.append(existing)
    return result if replaced else [*result, condition]


def status_patch(robot: Mapping[str, Any], outcome: BackupOutcome) -> Obj:
    """The Robot status patch for a finished backup, guarded by the Robot's resourceVersion."""
    robot_status = robot.get("status") or {}
    condition = {
        "type": names.CONDITION_LAST_BACKUP_SUCCEEDED,
        "status": "True" if outcome.ok else "False",
        "reason": outcome.result,
        "message": outcome.message or f"backup Job {outcome.job}: {outcome.result}",
        "lastTransitionTime": outcome.time,
        "observedGeneration": int((robot.get("metadata") or {}).get("generation") or 0),
    }
    patch: Obj = {
        "lastBackup": outcome.as_status(),
        "conditions": with_condition(list(robot_status.get("conditions") or []), condition),
    }
    if outcome.ok:
        patch["lastSuccessfulBackupTime"] = outcome.time
    result: Obj = {"status": patch}
    resource_version = (robot.get("metadata") or {}).get("resourceVersion")
    if resource_version:
        result["metadata"] = {"resourceVersion": resource_version}
    return result


def robot_of_job(job: Mapping[str, Any]) -> str | None:
    labels = (job.get("metadata") or {}).get("labels") or {}
    name = labels.get(names.LABEL_INSTANCE)
    return str(name) if name else None


def job_pods(client: kube.Kube, job: Mapping[str, Any]) -> list[Obj]:
    namespace, name = job["metadata"]["namespace"], job["metadata"]["name"]
    for label in JOB_NAME_LABELS:
        pods = client.list(kube.POD, namespace, f"{label}={name}")
        if pods:
            return pods
    return []


def record_backup(client: kube.Kube, recorder: Recorder, job: Mapping[str, Any]) -> BackupOutcome | None:
    """Copy a finished backup Job's result into its Robot's status; returns what was recorded (None: nothing)."""
    if finished_at(job) is None:
        return None
    robot_name = robot_of_job(job)
    if not robot_name:
        return None
    namespace = job["metadata"]["namespace"]
    with robot_lock(namespace, robot_name):
        robot = client.get(kube.ROBOT, namespace, robot_name)
        if robot is None:
            return None
        outcome = outcome_of(job, job_pods(client, job))
        if outcome is None or already_recorded(robot.get("status") or {}, outcome):
            return None
        client.patch(kube.ROBOT, namespace, robot_name, status_patch(robot, outcome), "status")
    metrics.WRITES.labels(kind=names.KIND, verb="patch-status").inc()
    metrics.BACKUPS.labels(result=outcome.result).inc()
    log.info("Robot %s/%s: backup Job %s: %s", namespace, robot_name, outcome.job, outcome.result)
    event_type = "Normal" if outcome.ok else "Warning"
    reason = "BackupSucceeded" if outcome.ok else "BackupFailed"
    recorder(robot, event_type, reason, f"backup Job {outcome.job}: {outcome.result} {outcome.message}".strip())
    return outcome
