"""A Robot's status, computed purely from facts: phase, conditions (with observedGeneration) and reported fields.

Nothing here reads a clock: the caller passes `now` (RFC 3339). `build_status` returns the `previous` dict itself
when nothing changed, so the reconciler can skip the write; a condition keeps its lastTransitionTime while its
status stays the same (reason and message may change).

Phases, first match wins: Invalid (the env or spec is unusable), Conflict (an older Robot uses the repository),
Suspended (spec.suspend), Pending (the oldest Robot on its repository, waiting for a newer one to stop: see
`robot_operator.handover`), Degraded (the robot was running and its pod is no longer available, or the last backup
failed), Running (the pod is available), Pending (waiting for the first available pod).
Ready is True when the robot's pod is available and it is allowed to run (Running, or Degraded by a failed backup).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from robot_operator import handover, names
from robot_operator.conflict import conflict_message_for
from robot_operator.envcheck import EnvInvalid, ResolvedEnv
from robot_operator.model import Robot

Obj = dict[str, Any]
TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"


@dataclass(frozen=True)
class Facts:
    """What the reconciler observed about one Robot; the input of `build_status`.

    `env_error` is (reason, message) when the variables are invalid; `conflict_with` is "namespace/name" of the
    older Robot using the same repository; `waiting_for` is "namespace/name" of a newer Robot on it that has not
    stopped yet (this one, the winner, stays at 0 meanwhile); `last_backup` is a new `status.lastBackup` dict (None
    keeps the previous one: the backup watcher writes it).
    """

    env_error: tuple[str, str] | None = None
    conflict_with: str | None = None
    waiting_for: str | None = None
    suspended: bool = False
    backup_suspended: bool = False
    backup_schedule: str = names.DEFAULT_BACKUP_SCHEDULE
    deployment_present: bool = False
    desired_replicas: int = 0
    available_replicas: int = 0
    cronjob_present: bool = False
    env_secret_name: str = ""
    repository: str | None = None
    env_checksum: str | None = None
    last_backup: Mapping[str, Any] | None = None

    @property
    def env_valid(self) -> bool:
        return self.env_error is None

    @property
    def available(self) -> bool:
        return self.deployment_present and self.desired_replicas > 0 and self.available_replicas > 0


def facts_from(
    robot: Robot,
    *,
    resolved: ResolvedEnv | None = None,
    invalid: EnvInvalid | None = None,
    conflict_with: str | None = None,
    waiting_for: str | None = None,
    deployment: Mapping[str, Any] | None = None,
    cronjob: Mapping[str, Any] | None = None,
) -> Facts:
    """Facts from the parsed Robot, its resolved env (or the error) and the live Deployment and CronJob dicts."""
    may_run = invalid is None and conflict_with is None and waiting_for is None and not robot.suspend
    return Facts(
        env_error=(invalid.reason, invalid.message) if invalid is not None else None,
        conflict_with=conflict_with,
        waiting_for=waiting_for,
        suspended=robot.suspend,
        backup_suspended=_live_suspend(cronjob) if cronjob is not None else robot.backup_suspended,
        backup_schedule=robot.backup.schedule,
        deployment_present=deployment is not None,
        desired_replicas=1 if may_run else 0,
        available_replicas=_int_at(deployment, "status", "availableReplicas") if may_run else 0,
        cronjob_present=cronjob is not None,
        env_secret_name=robot.env_secret_name,
        repository=resolved.repository if resolved else None,
        env_checksum=resolved.checksum if resolved else None,
    )


def robot_status(
    robot: Robot,
    *,
    previous: Mapping[str, Any],
    now: str,
    resolved: ResolvedEnv | None = None,
    invalid: EnvInvalid | None = None,
    conflict_with: str | None = None,
    waiting_for: str | None = None,
    deployment: Mapping[str, Any] | None = None,
    cronjob: Mapping[str, Any] | None = None,
) -> Mapping[str, Any]:
    """`build_status` from the reconciler's objects (see `facts_from`); `previous` itself when nothing changed."""
    facts = facts_from(
        robot,
        resolved=resolved,
        invalid=invalid,
        conflict_with=conflict_with,
        waiting_for=waiting_for,
        deployment=deployment,
        cronjob=cronjob,
    )
    return build_status(facts, previous, robot.generation, now)


def invalid_spec_status(message: str, previous: Mapping[str, Any], generation: int, now: str) -> Mapping[str, Any]:
    """Status for a Robot whose spec cannot be parsed (`model.ModelError`): phase Invalid, reason InvalidSpec."""
    return build_status(Facts(env_error=("InvalidSpec", message)), previous, generation, now)


def build_status(facts: Facts, previous_status: Mapping[str, Any], generation: int, now: str) -> Mapping[str, Any]:
    """The whole status for `facts`; returns `previous_status` itself when the result equals it."""
    previous_conditions = {str(c.get("type")): c for c in previous_status.get("conditions") or [] if c.get("type")}
    last_backup = dict(facts.last_backup) if facts.last_backup is not None else previous_status.get("lastBackup")
    backup_ok = _backup_ok(last_backup, previous_conditions.get(names.CONDITION_LAST_BACKUP_SUCCEEDED))
    phase = compute_phase(facts, str(previous_status.get("phase") or ""), backup_ok)
    wanted = [
        _ready(facts, phase),
        _env_valid(facts),
        _deployment_available(facts),
        _backup_scheduled(facts),
        _last_backup_succeeded(facts, last_backup, previous_conditions.get(names.CONDITION_LAST_BACKUP_SUCCEEDED)),
        _conflict(facts),
    ]
    conditions = [condition(*spec, generation, now, previous_conditions.get(spec[0])) for spec in wanted]
    conditions += [c for kind, c in previous_conditions.items() if kind not in names.CONDITION_TYPES]
    status: Obj = {**previous_status, "observedGeneration": generation, "phase": phase, "conditions": conditions}
    if facts.repository is not None:
        status["repository"] = facts.repository
    if facts.env_checksum is not None:
        status["envChecksum"] = facts.env_checksum
    if facts.last_backup is not None:
        status["lastBackup"] = dict(facts.last_backup)
        if backup_ok and facts.last_backup.get("time"):
            status["lastSuccessfulBackupTime"] = facts.last_backup["time"]
    return previous_status if status == dict(previous_status) else status


def condition(
    type_: str,
    status: str,
    reason: str,
    message: str,
    generation: int,
    now: str,
    previous: Mapping[str, Any] | None,
) -> Obj:
    """One condition; lastTransitionTime is `now` unless `previous` had the same status (then it is kept)."""
    kept = previous is not None and previous.get("status") == status and previous.get("lastTransitionTime")
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": previous["lastTransitionTime"] if kept and previous is not None else now,
    }


def compute_phase(facts: Facts, previous_phase: str, last_backup_ok: bool | None) -> str:
    """The phase for `facts` (see the module docstring for the order)."""
    if not facts.env_valid:
        return names.PHASE_INVALID
    if facts.conflict_with:
        return names.PHASE_CONFLICT
    if facts.suspended:
        return names.PHASE_SUSPENDED
    if facts.waiting_for:
        return names.PHASE_PENDING
    if facts.available:
        return names.PHASE_DEGRADED if last_backup_ok is False else names.PHASE_RUNNING
    if previous_phase in (names.PHASE_RUNNING, names.PHASE_DEGRADED):
        return names.PHASE_DEGRADED
    return names.PHASE_PENDING


ConditionSpec = tuple[str, str, str, str]


def _ready(facts: Facts, phase: str) -> ConditionSpec:
    if facts.available and phase in (names.PHASE_RUNNING, names.PHASE_DEGRADED):
        return (names.CONDITION_READY, TRUE, "RobotAvailable", "the robot's pod is available")
    if facts.waiting_for and phase == names.PHASE_PENDING:
        return (names.CONDITION_READY, FALSE, handover.WAITING_REASON, handover.waiting_message(facts.waiting_for))
    messages = {
        names.PHASE_INVALID: "the robot's variables are invalid (see EnvValid)",
        names.PHASE_CONFLICT: "another Robot uses the same repository (see Conflict)",
        names.PHASE_SUSPENDED: "spec.suspend is true",
        names.PHASE_DEGRADED: "the robot's pod is not available (see DeploymentAvailable)",
        names.PHASE_PENDING: "waiting for the robot's pod to become available",
    }
    return (names.CONDITION_READY, FALSE, phase, messages.get(phase, phase))


def _env_valid(facts: Facts) -> ConditionSpec:
    if facts.env_error is not None:
        reason, message = facts.env_error
        return (names.CONDITION_ENV_VALID, FALSE, reason, message)
    return (names.CONDITION_ENV_VALID, TRUE, "Valid", f"variables resolved from Secret {facts.env_secret_name}")


def _deployment_available(facts: Facts) -> ConditionSpec:
    kind = names.CONDITION_DEPLOYMENT_AVAILABLE
    if facts.available:
        return (kind, TRUE, "Available", f"{facts.available_replicas} pod available")
    if facts.waiting_for and facts.env_valid and not facts.conflict_with and not facts.suspended:
        return (kind, FALSE, handover.WAITING_REASON, handover.waiting_message(facts.waiting_for))
    if facts.desired_replicas == 0:
        return (
            kind,
            FALSE,
            "ScaledToZero",
            "the Deployment runs no pod (the robot is invalid, in conflict or suspended)",
        )
    if not facts.deployment_present:
        return (kind, FALSE, "NotFound", "the Deployment does not exist yet")
    return (kind, FALSE, "Unavailable", "the robot's pod is not available yet")


def _backup_scheduled(facts: Facts) -> ConditionSpec:
    kind = names.CONDITION_BACKUP_SCHEDULED
    if not facts.cronjob_present:
        return (kind, FALSE, "NotFound", "the backup CronJob does not exist")
    if facts.backup_suspended:
        return (
            kind,
            FALSE,
            "Suspended",
            "the backup CronJob is suspended (spec.suspend, spec.backup.suspend, or the robot may not run)",
        )
    return (kind, TRUE, "Scheduled", f"backups run on schedule {facts.backup_schedule}")


def _last_backup_succeeded(
    facts: Facts, last_backup: Mapping[str, Any] | None, previous: Mapping[str, Any] | None
) -> ConditionSpec:
    kind = names.CONDITION_LAST_BACKUP_SUCCEEDED
    if facts.last_backup is None and previous is not None:
        return (kind, str(previous.get("status")), str(previous.get("reason")), str(previous.get("message", "")))
    if not last_backup:
        return (kind, UNKNOWN, "NoBackupYet", "no backup has finished yet")
    result = str(last_backup.get("result") or "Failed")
    message = str(last_backup.get("message") or f"backup result {result}")
    return (kind, FALSE if result == "Failed" else TRUE, result, message)


def _conflict(facts: Facts) -> ConditionSpec:
    kind = names.CONDITION_CONFLICT
    if facts.conflict_with:
        return (kind, TRUE, "RepositoryInUse", conflict_message_for(facts.conflict_with))
    if not facts.env_valid:
        return (kind, UNKNOWN, "EnvInvalid", "the repository is unknown while the variables are invalid")
    return (kind, FALSE, "NoConflict", "no older Robot uses this repository")


def _backup_ok(last_backup: Mapping[str, Any] | None, previous: Mapping[str, Any] | None) -> bool | None:
    if last_backup and last_backup.get("result"):
        return bool(last_backup["result"] != "Failed")
    if previous is not None and previous.get("status") in (TRUE, FALSE):
        return previous.get("status") == TRUE
    return None


def _live_suspend(cronjob: Mapping[str, Any]) -> bool:
    spec = cronjob.get("spec")
    return isinstance(spec, Mapping) and spec.get("suspend") is True


def _int_at(obj: Mapping[str, Any] | None, *path: str) -> int:
    value: Any = obj
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
