"""Status computation: phases, conditions, transition times, no-op detection."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from robot_operator import names
from robot_operator.envcheck import EnvInvalid, ResolvedEnv
from robot_operator.model import Robot
from robot_operator.status import (
    Facts,
    build_status,
    compute_phase,
    condition,
    facts_from,
    invalid_spec_status,
    robot_status,
)

T0 = "2026-12-03T10:00:00Z"
T1 = "2026-12-03T10:05:00Z"
T2 = "2026-12-03T10:10:00Z"
RUNNING = Facts(
    deployment_present=True,
    desired_replicas=1,
    available_replicas=1,
    cronjob_present=True,
    env_secret_name="floyd-dotenv",
    repository="git@github.com:acme/floyd.git",
    env_checksum="abc",
)


def _robot(**spec: Any) -> Robot:
    return Robot.from_resource(
        {
            "metadata": {"name": "floyd", "namespace": "bots", "uid": "u", "generation": 4},
            "spec": {"envFrom": {"secretName": "floyd-dotenv"}, **spec},
        }
    )


def _conditions(status: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def _pending(**changes: Any) -> Facts:
    return replace(RUNNING, **{"available_replicas": 0, **changes})


def test_condition_keeps_transition_time_while_status_is_unchanged() -> None:
    first = condition("Ready", "False", "Pending", "waiting", 1, T0, None)
    assert first == {
        "type": "Ready",
        "status": "False",
        "reason": "Pending",
        "message": "waiting",
        "observedGeneration": 1,
        "lastTransitionTime": T0,
    }
    same = condition("Ready", "False", "Degraded", "other words", 2, T1, first)
    assert same["lastTransitionTime"] == T0
    assert same["observedGeneration"] == 2
    flipped = condition("Ready", "True", "RobotAvailable", "up", 2, T2, same)
    assert flipped["lastTransitionTime"] == T2


def test_running_robot_status() -> None:
    status = build_status(RUNNING, {}, 4, T0)
    assert status["phase"] == "Running"
    assert status["observedGeneration"] == 4
    assert status["repository"] == "git@github.com:acme/floyd.git"
    assert status["envChecksum"] == "abc"
    conditions = _conditions(status)
    assert list(conditions) == list(names.CONDITION_TYPES)
    assert {t: c["status"] for t, c in conditions.items()} == {
        "Ready": "True",
        "EnvValid": "True",
        "DeploymentAvailable": "True",
        "BackupScheduled": "True",
        "LastBackupSucceeded": "Unknown",
        "Conflict": "False",
    }
    assert all(c["observedGeneration"] == 4 and c["lastTransitionTime"] == T0 for c in conditions.values())
    assert conditions["BackupScheduled"]["message"] == "backups run on schedule 0 * * * *"


def test_unchanged_status_is_returned_as_the_same_object() -> None:
    first = build_status(RUNNING, {}, 4, T0)
    again = build_status(RUNNING, first, 4, T1)
    assert again is first


def test_new_generation_is_a_change() -> None:
    first = build_status(RUNNING, {}, 4, T0)
    second = build_status(RUNNING, first, 5, T1)
    assert second is not first
    assert second["observedGeneration"] == 5
    assert all(c["lastTransitionTime"] == T0 for c in second["conditions"])


def test_invalid_env_status_names_the_problem() -> None:
    facts = Facts(env_error=("EncryptionKeyTooShort", "GOPHER_ENCRYPTION_KEY (line 4 ...) is shorter than 32 bytes"))
    status = build_status(facts, {}, 1, T0)
    assert status["phase"] == "Invalid"
    conditions = _conditions(status)
    assert conditions["EnvValid"]["status"] == "False"
    assert conditions["EnvValid"]["reason"] == "EncryptionKeyTooShort"
    assert "line 4" in conditions["EnvValid"]["message"]
    assert conditions["Ready"]["status"] == "False"
    assert conditions["Ready"]["reason"] == "Invalid"
    assert conditions["Conflict"]["status"] == "Unknown"
    assert conditions["DeploymentAvailable"]["reason"] == "ScaledToZero"


def test_invalid_keeps_the_previously_reported_repository() -> None:
    running = build_status(RUNNING, {}, 1, T0)
    invalid = build_status(Facts(env_error=("MissingVariable", "m")), running, 1, T1)
    assert invalid["repository"] == running["repository"]
    assert invalid["phase"] == "Invalid"


def test_conflict_names_the_other_robot() -> None:
    facts = _pending(conflict_with="other/floyd", desired_replicas=0)
    status = build_status(facts, {}, 1, T0)
    assert status["phase"] == "Conflict"
    conflict = _conditions(status)["Conflict"]
    assert conflict["status"] == "True"
    assert conflict["reason"] == "RepositoryInUse"
    assert "other/floyd" in conflict["message"]


def test_suspended() -> None:
    facts = _pending(suspended=True, backup_suspended=True, desired_replicas=0)
    status = build_status(facts, {}, 1, T0)
    assert status["phase"] == "Suspended"
    assert _conditions(status)["BackupScheduled"]["reason"] == "Suspended"
    assert _conditions(status)["BackupScheduled"]["status"] == "False"


def test_pending_then_running_then_degraded() -> None:
    pending = build_status(_pending(), {}, 1, T0)
    assert pending["phase"] == "Pending"
    assert _conditions(pending)["DeploymentAvailable"]["reason"] == "Unavailable"
    running = build_status(RUNNING, pending, 1, T1)
    assert running["phase"] == "Running"
    assert _conditions(running)["Ready"]["lastTransitionTime"] == T1
    degraded = build_status(_pending(), running, 1, T2)
    assert degraded["phase"] == "Degraded"
    assert _conditions(degraded)["Ready"]["status"] == "False"


def test_missing_deployment_is_pending() -> None:
    status = build_status(_pending(deployment_present=False, cronjob_present=False), {}, 1, T0)
    assert status["phase"] == "Pending"
    assert _conditions(status)["DeploymentAvailable"]["reason"] == "NotFound"
    assert _conditions(status)["BackupScheduled"]["reason"] == "NotFound"


def test_failed_backup_degrades_but_stays_ready() -> None:
    last = {"time": T1, "result": "Failed", "message": "push rejected", "commit": None}
    status = build_status(replace(RUNNING, last_backup=last), {}, 1, T1)
    assert status["phase"] == "Degraded"
    assert _conditions(status)["Ready"]["status"] == "True"
    backup = _conditions(status)["LastBackupSucceeded"]
    assert (backup["status"], backup["reason"], backup["message"]) == ("False", "Failed", "push rejected")
    assert "lastSuccessfulBackupTime" not in status


def test_successful_backup_sets_last_successful_time() -> None:
    last = {"time": T1, "result": "Pushed", "message": "", "commit": "abc123"}
    status = build_status(replace(RUNNING, last_backup=last), {}, 1, T1)
    assert status["phase"] == "Running"
    assert status["lastBackup"] == last
    assert status["lastSuccessfulBackupTime"] == T1
    assert _conditions(status)["LastBackupSucceeded"]["reason"] == "Pushed"


def test_backup_fields_written_by_the_backup_watcher_are_kept() -> None:
    watcher_status = {
        "phase": "Running",
        "lastBackup": {"time": T1, "result": "NoChanges", "commit": "c", "message": ""},
        "lastSuccessfulBackupTime": T1,
        "conditions": [
            {
                "type": "LastBackupSucceeded",
                "status": "True",
                "reason": "NoChanges",
                "message": "nothing to back up",
                "observedGeneration": 1,
                "lastTransitionTime": T1,
            }
        ],
    }
    status = build_status(RUNNING, watcher_status, 1, T2)
    assert status["lastBackup"] == watcher_status["lastBackup"]
    assert status["lastSuccessfulBackupTime"] == T1
    kept = _conditions(status)["LastBackupSucceeded"]
    assert (kept["status"], kept["reason"], kept["message"], kept["lastTransitionTime"]) == (
        "True",
        "NoChanges",
        "nothing to back up",
        T1,
    )


def test_foreign_conditions_are_kept() -> None:
    foreign = {"type": "example.com/Audited", "status": "True", "reason": "Ok", "message": "", "lastTransitionTime": T0}
    status = build_status(RUNNING, {"conditions": [foreign]}, 1, T1)
    assert _conditions(status)["example.com/Audited"] == foreign


@pytest.mark.parametrize(
    ("facts", "previous", "backup_ok", "phase"),
    [
        (Facts(env_error=("R", "m"), conflict_with="a/b", suspended=True), "", None, "Invalid"),
        (Facts(conflict_with="a/b", suspended=True), "Running", None, "Conflict"),
        (Facts(suspended=True), "Running", None, "Suspended"),
        (RUNNING, "", True, "Running"),
        (RUNNING, "", False, "Degraded"),
        (Facts(deployment_present=True, desired_replicas=1), "", None, "Pending"),
        (Facts(deployment_present=True, desired_replicas=1), "Degraded", None, "Degraded"),
        (Facts(deployment_present=True, desired_replicas=1), "Suspended", None, "Pending"),
    ],
)
def test_compute_phase(facts: Facts, previous: str, backup_ok: bool | None, phase: str) -> None:
    assert compute_phase(facts, previous, backup_ok) == phase


def test_facts_from_live_objects() -> None:
    resolved = ResolvedEnv(variables={}, checksum="sum", repository="https://h/r", repository_key="h/r")
    deployment = {"spec": {"replicas": 1}, "status": {"availableReplicas": 1}}
    facts = facts_from(_robot(), resolved=resolved, deployment=deployment, cronjob={"spec": {}})
    assert facts.available
    assert facts.repository == "https://h/r"
    assert facts.env_checksum == "sum"
    stale = facts_from(_robot(suspend=True), resolved=resolved, deployment=deployment, cronjob=None)
    assert not stale.available
    assert stale.backup_suspended


def test_robot_status_for_invalid_env() -> None:
    error = EnvInvalid("MissingVariable", "GOPHER_DEPLOY_KEY is missing or empty in Secret floyd-dotenv key .env")
    status = robot_status(_robot(), previous={}, now=T0, invalid=error, deployment=None)
    assert status["phase"] == "Invalid"
    assert status["observedGeneration"] == 4
    assert _conditions(status)["EnvValid"]["message"] == error.message


def test_robot_status_for_conflict() -> None:
    resolved = ResolvedEnv(variables={}, checksum="sum", repository="r", repository_key="k")
    status = robot_status(_robot(), previous={}, now=T0, resolved=resolved, conflict_with="a/floyd")
    assert status["phase"] == "Conflict"
    assert "a/floyd" in _conditions(status)["Conflict"]["message"]


def test_backup_scheduled_follows_the_live_cronjob() -> None:
    resolved = ResolvedEnv(variables={}, checksum="sum", repository="r", repository_key="k")
    live = {"spec": {"suspend": True}}
    status = robot_status(_robot(), previous={}, now=T0, resolved=resolved, conflict_with="a/floyd", cronjob=live)
    assert _conditions(status)["BackupScheduled"]["reason"] == "Suspended"
    running = robot_status(_robot(), previous={}, now=T0, resolved=resolved, cronjob={"spec": {"suspend": False}})
    assert _conditions(running)["BackupScheduled"]["status"] == "True"


def test_invalid_spec_status() -> None:
    status = invalid_spec_status("spec.backup.schedule: must be a cron schedule of 5 fields", {}, 3, T0)
    assert status["phase"] == "Invalid"
    env_valid = _conditions(status)["EnvValid"]
    assert (env_valid["status"], env_valid["reason"]) == ("False", "InvalidSpec")
    assert env_valid["message"].startswith("spec.backup.schedule")
