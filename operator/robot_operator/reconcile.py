"""The reconciler: build the desired children of a Robot, compare them with the live ones, write only differences.

One call of `Reconciler.reconcile(body)` does, for one Robot:
parse (model) -> resolve its variables from the `.env` Secret (envcheck) -> decide if it may run (conflict) ->
build every child (children.*, pure) -> for each: read, create when absent (409 -> re-read and compare), patch only
the paths that differ (logged by path, never by value, see `robot_operator.diff`) -> compute the status and patch
it only when it changed. A reconcile in which nothing differs makes no write at all.

Side effects live here, not in the builders: the random ROBOT_CONTROL_TOKEN is generated once and kept from the live
env Secret afterwards; API calls; events (through the `Recorder` given by the caller: kopf in the operator, a list
in tests). Reconciles of the same Robot are serialised by a per-Robot lock (the handlers of the Robot, of its
children and of its `.env` Secret may all trigger one at the same time).

Never two robots at once: the peers given by the caller (the kopf index, built from each Robot's status) miss a
Robot not reconciled yet. So before a Robot whose Deployment is absent or at 0 may get a replica, the decision is
taken again from fresh data (`robot_operator.peers`: one LIST of Robots, the `.env` Secrets of those not reconciled
yet, the Deployments of same-second ties), under a per-repository lock held until its Deployment is written: two
Robots on one repository are decided one after the other, and the second sees the first. A Robot whose Deployment
already runs decides from the index alone (no extra read), so a no-op reconcile stays cheap.

Break before make (`robot_operator.handover`): a Robot that wins that fresh decision still stays at 0 while another
Robot claiming the repository has a Deployment asking for a replica or a pod not finished yet (the Deployment and
pods of each other claimant are read, only on this scale-up path and only when there are other claimants). It then
reports Pending/WaitingForRivalToStop, and the outcome's `handover` tells the caller to have that rival reconciled
with the winner's claim added to what it knows (the winner may not be in the caller's index yet).
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from robot_operator import diff, envcheck, handover, kube, metrics, names, peers, status
from robot_operator.children import cronjob, deployment, rbac, secret, service
from robot_operator.conflict import RepoClaim, find_conflict, merge_claims, tie_candidates
from robot_operator.envcheck import EnvInvalid, ResolvedEnv
from robot_operator.handover import Handover
from robot_operator.model import ModelError, Robot

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Recorder = Callable[[Mapping[str, Any], str, str, str], None]
"""(robot body, "Normal"|"Warning", reason, message) -> None: posts an event on the Robot."""

GONE: Final = "Gone"
"""The outcome's phase when the Robot no longer exists (or is being deleted): nothing was done."""


class PeerLookup(Protocol):
    """The Robots (any namespace) whose status names the repository with this key (kopf index in the operator)."""

    def __call__(self, repository_key: str) -> list[RepoClaim]: ...


@dataclass
class Outcome:
    """What one reconcile did: the phase it reported and the write requests it sent."""

    phase: str
    writes: int = 0
    drifted: dict[str, list[str]] = field(default_factory=dict)
    handover: Handover | None = None


def no_peers(repository_key: str) -> list[RepoClaim]:
    return []


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def decoded_secret_data(secret_obj: Mapping[str, Any]) -> dict[str, bytes]:
    """A Secret's `data` base64-decoded (values stay bytes and are never logged)."""
    return peers.decoded_secret_data(secret_obj)


def existing_control_token(live_env_secret: Mapping[str, Any] | None) -> str | None:
    if not live_env_secret:
        return None
    raw = (live_env_secret.get("data") or {}).get(names.ROBOT_CONTROL_TOKEN)
    if not raw:
        return None
    token = base64.b64decode(str(raw)).decode("utf-8", "replace")
    return token or None


def new_control_token() -> str:
    import secrets

    return secrets.token_urlsafe(32)


def status_patch(body: Mapping[str, Any], new_status: Mapping[str, Any]) -> Obj:
    """A status merge patch guarded by the Robot's resourceVersion: a stale body gets 409 instead of overwriting
    newer status (e.g. a backup result recorded meanwhile)."""
    patch: Obj = {"status": dict(new_status)}
    resource_version = (body.get("metadata") or {}).get("resourceVersion")
    if resource_version:
        patch["metadata"] = {"resourceVersion": resource_version}
    return patch


_locks_guard = threading.Lock()
_locks: dict[tuple[str, str], threading.Lock] = {}


def robot_lock(namespace: str, name: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault((namespace, name), threading.Lock())


_repository_locks: dict[str, threading.Lock] = {}


@contextmanager
def repository_lock(repository_key: str) -> Iterator[None]:
    """Serialises scale-up decisions on one repository (taken inside a Robot's lock, never the other way round)."""
    with _locks_guard:
        lock = _repository_locks.setdefault(repository_key, threading.Lock())
    with lock:
        yield


class Reconciler:
    """Keeps the children and the status of Robots in place, through a `kube.Kube` client."""

    def __init__(
        self,
        client: kube.Kube,
        recorder: Recorder,
        peers: PeerLookup = no_peers,
        departed: handover.Departed | None = None,
    ) -> None:
        self.kube = client
        self.record = recorder
        self.peers = peers
        self.departed = departed if departed is not None else handover.Departed()

    # --- the whole reconcile -------------------------------------------------------------------------------------
    def reconcile(self, body: Mapping[str, Any]) -> Outcome:
        """Reconcile one Robot (its resource dict as read or as kopf passes it)."""
        metadata = body.get("metadata") or {}
        started = time.monotonic()
        writes_before = self.kube.writes
        with robot_lock(str(metadata.get("namespace", "")), str(metadata.get("name", ""))):
            try:
                outcome = self.reconcile_with_fresh_retry(body)
            except Exception:
                metrics.RECONCILE_ERRORS.inc()
                metrics.RECONCILES.labels(result="error").inc()
                raise
            finally:
                metrics.RECONCILE_SECONDS.observe(time.monotonic() - started)
        outcome.writes = self.kube.writes - writes_before
        metrics.RECONCILES.labels(result=outcome.phase.lower()).inc()
        return outcome

    def reconcile_with_fresh_retry(self, body: Mapping[str, Any]) -> Outcome:
        """Reconcile the Robot as it is NOW (re-read under the lock: the caller's body may be stale); when the
        status write still meets a newer Robot (409), re-read it and reconcile once more."""
        try:
            try:
                return self.reconcile_current(body)
            except kube.Conflict:
                return self.reconcile_current(body)
        except kube.NamespaceTerminating:
            metadata = body.get("metadata") or {}
            log.info("Robot %s/%s: its namespace is being deleted", metadata.get("namespace"), metadata.get("name"))
            return Outcome(phase=GONE)

    def reconcile_current(self, body: Mapping[str, Any]) -> Outcome:
        metadata = body.get("metadata") or {}
        fresh = self.kube.get(kube.ROBOT, str(metadata.get("namespace")), str(metadata.get("name")))
        if fresh is None or (fresh.get("metadata") or {}).get("deletionTimestamp"):
            return Outcome(phase=GONE)
        return self.reconcile_locked(fresh)

    def reconcile_locked(self, body: Mapping[str, Any]) -> Outcome:
        try:
            robot = Robot.from_resource(body)
        except ModelError as error:
            return self.report_invalid_spec(body, error)
        try:
            resolved = self.resolve(robot)
        except EnvInvalid as error:
            return self.report_invalid_env(body, robot, error)
        live_deployment = self.kube.get(kube.DEPLOYMENT, robot.namespace, names.deployment_name(robot.name))
        runs = peers.replicas_of(live_deployment) >= 1
        may_scale_up = not robot.suspend and not runs
        with repository_lock(resolved.repository_key) if may_scale_up else nullcontext():
            return self.reconcile_decided(body, robot, resolved, live_deployment, runs)

    def reconcile_decided(
        self, body: Mapping[str, Any], robot: Robot, resolved: ResolvedEnv, live_deployment: Obj | None, runs: bool
    ) -> Outcome:
        rival, claims = self.standing(robot, resolved, runs)
        waiting = (
            self.handover_from(robot, resolved, claims) if rival is None and not runs and not robot.suspend else None
        )
        replicas = 0 if robot.suspend or rival or waiting else 1
        outcome = Outcome(phase="", handover=waiting)
        live_env = self.kube.get(kube.SECRET, robot.namespace, names.env_secret_name(robot.name))
        token = existing_control_token(live_env) or new_control_token()
        desired = self.desired_children(robot, resolved, token, replicas)
        known = {"Deployment": live_deployment}
        live_children: dict[str, Obj] = {}
        for child in desired:
            live_children[child["kind"]] = self.ensure(body, child, outcome, known)
        new_status = status.robot_status(
            robot,
            previous=body.get("status") or {},
            now=utc_now(),
            resolved=resolved,
            conflict_with=rival.display if rival else None,
            waiting_for=waiting.rival.display if waiting else None,
            deployment=live_children.get("Deployment"),
            cronjob=live_children.get("CronJob"),
        )
        outcome.phase = str(new_status.get("phase", ""))
        self.update_status(body, new_status)
        return outcome

    def resolve(self, robot: Robot) -> ResolvedEnv:
        user_secret = self.kube.get(kube.SECRET, robot.namespace, robot.env_secret_name)
        if user_secret is None:
            raise envcheck.secret_not_found(robot)
        return envcheck.resolve_env(robot, decoded_secret_data(user_secret))

    def rival_of(self, robot: Robot, resolved: ResolvedEnv, runs: bool = False) -> RepoClaim | None:
        """The older Robot using the same repository, when there is one (then this one must not run).

        `runs`: whether this Robot's Deployment runs now. The index answers alone when it names a rival or when this
        Robot already runs; a Robot about to be scaled up from 0 is decided again over the index's claims and a
        fresh LIST's (the caller holds the repository's lock).
        """
        return self.standing(robot, resolved, runs)[0]

    def standing(self, robot: Robot, resolved: ResolvedEnv, runs: bool) -> tuple[RepoClaim | None, list[RepoClaim]]:
        """`rival_of`, with the claims it decided over (the fresh ones when the Robot is about to scale up)."""
        known = self.peers(resolved.repository_key)
        rival = self.decide(robot, resolved, known, runs)
        if rival is not None or runs or robot.suspend:
            return rival, known
        claims = merge_claims(known, peers.fresh_claims(self.kube, robot.key))
        rival = self.decide(robot, resolved, claims, runs)
        log.info(
            "Robot %s/%s: fresh check before scaling up: %s",
            robot.namespace,
            robot.name,
            f"the older Robot {rival.display} uses the repository" if rival else "no older Robot",
        )
        return rival, claims

    def handover_from(self, robot: Robot, resolved: ResolvedEnv, claims: list[RepoClaim]) -> Handover | None:
        """For a winner about to scale up: the first other claimant (oldest first; deleted Robots remembered in
        `departed` included) that has not stopped yet, which this Robot must wait for; None when every other
        claimant is at 0 replicas with no pod left (a departed one found stopped is forgotten)."""
        key = resolved.repository_key
        departed = self.departed.on(key)
        for other in handover.rivals_on_repository(robot.key, key, [*claims, *departed]):
            if peers.still_runs(self.kube, other):
                log.info("Robot %s/%s: waits for Robot %s to stop", robot.namespace, robot.name, other.display)
                winner = RepoClaim(robot.namespace, robot.name, robot.creation_timestamp, key)
                return Handover(winner=winner, rival=other)
            if other in departed:
                self.departed.forget(other)
        return None

    def decide(self, robot: Robot, resolved: ResolvedEnv, claims: list[RepoClaim], runs: bool) -> RepoClaim | None:
        """`find_conflict`, after reading whether the same-second rivals' Deployments run (they break the tie)."""
        key, created = resolved.repository_key, robot.creation_timestamp
        ties = tie_candidates(robot.key, created, key, claims)
        if ties:
            claims = peers.with_running(self.kube, claims, ties)
        return find_conflict(robot.key, created, key, claims, running=runs)

    @staticmethod
    def desired_children(robot: Robot, resolved: ResolvedEnv, token: str, replicas: int) -> list[Obj]:
        return [
            secret.build_env_secret(robot, resolved.variables, token),
            rbac.build_service_account(robot),
            rbac.build_lease_role(robot),
            rbac.build_lease_role_binding(robot),
            service.build_service(robot),
            deployment.build_deployment(robot, resolved.checksum, replicas),
            cronjob.build_backup_cronjob(robot),
        ]

    # --- one child ------------------------------------------------------------------------------------------------
    def ensure(
        self,
        robot_body: Mapping[str, Any],
        desired: Obj,
        outcome: Outcome,
        known: Mapping[str, Obj | None] | None = None,
    ) -> Obj:
        """Make the live child carry `desired`; returns the live object after any write.

        `known`: live objects by kind already read in this reconcile (under the Robot's lock), not read again.
        """
        kind = kube.kind_of(desired)
        namespace = desired["metadata"]["namespace"]
        name = desired["metadata"]["name"]
        live = known[kind.kind] if known and kind.kind in known else self.kube.get(kind, namespace, name)
        if live is None:
            try:
                created = self.kube.create(desired)
            except kube.AlreadyExists:
                live = self.kube.get(kind, namespace, name)
                if live is None:
                    raise
            else:
                metrics.WRITES.labels(kind=kind.kind, verb="create").inc()
                log.info("created %s %s/%s", kind.kind, namespace, name)
                self.record(robot_body, "Normal", "Created", f"created {kind.kind} {name}")
                return created
        drift = diff.child_differences(desired, live)
        if not drift:
            return live
        outcome.drifted[f"{kind.kind}/{name}"] = drift
        log.info("%s %s/%s differs at %s: patching", kind.kind, namespace, name, ", ".join(drift))
        patched = self.kube.patch(kind, namespace, name, diff.merge_patch(desired, live))
        metrics.WRITES.labels(kind=kind.kind, verb="patch").inc()
        self.record(robot_body, "Normal", "Updated", f"{kind.kind} {name} put back in place ({', '.join(drift)})")
        return patched

    def scale_to_zero(self, robot: Robot) -> Obj | None:
        """An invalid Robot runs no pod: its Deployment (if any) goes to 0 replicas; nothing else is touched."""
        live = self.kube.get(kube.DEPLOYMENT, robot.namespace, names.deployment_name(robot.name))
        if live is None or (live.get("spec") or {}).get("replicas") == 0:
            return live
        log.info("Deployment %s/%s scaled to 0: the Robot is invalid", robot.namespace, robot.name)
        metrics.WRITES.labels(kind="Deployment", verb="patch").inc()
        return self.kube.patch(kube.DEPLOYMENT, robot.namespace, robot.name, {"spec": {"replicas": 0}})

    # --- status -----------------------------------------------------------------------------------------------------
    def report_invalid_env(self, body: Mapping[str, Any], robot: Robot, error: EnvInvalid) -> Outcome:
        live_deployment = self.scale_to_zero(robot)
        new_status = status.robot_status(
            robot,
            previous=body.get("status") or {},
            now=utc_now(),
            invalid=error,
            deployment=live_deployment,
            cronjob=self.kube.get(kube.CRONJOB, robot.namespace, names.cronjob_name(robot.name)),
        )
        if self.update_status(body, new_status):
            self.record(body, "Warning", error.reason, error.message)
        return Outcome(phase=names.PHASE_INVALID)

    def report_invalid_spec(self, body: Mapping[str, Any], error: ModelError) -> Outcome:
        log.warning(
            "Robot %s/%s: %s", body.get("metadata", {}).get("namespace"), body.get("metadata", {}).get("name"), error
        )
        return Outcome(phase=names.PHASE_INVALID)

    def update_status(self, body: Mapping[str, Any], new_status: Mapping[str, Any]) -> bool:
        """Patch the Robot's status when (and only when) it differs from the live one; True when it wrote."""
        live_status = body.get("status") or {}
        changed = diff.differences(dict(new_status), live_status)
        if not changed:
            return False
        metadata = body["metadata"]
        log.info("Robot %s/%s status changed at %s", metadata["namespace"], metadata["name"], ", ".join(changed))
        self.kube.patch(kube.ROBOT, metadata["namespace"], metadata["name"], status_patch(body, new_status), "status")
        metrics.WRITES.labels(kind=names.KIND, verb="patch-status").inc()
        return True
