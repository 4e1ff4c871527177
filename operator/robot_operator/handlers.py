"""Every kopf decorator of the operator, thin: each handler finds the Robot concerned and calls the reconciler.

Handlers are SYNC functions (kopf runs them in its thread executor), because the reconciler uses the synchronous
`kubernetes` client; nothing here is `async def`. Which events lead to a reconcile:
- a Robot is created, resumed (operator restart) or its spec/labels/annotations change;
- one of its children (labelled managed-by robot-operator) changes or is deleted: drift is put back, and a change
  of Deployment status updates the Robot's phase;
- its `.env` Secret changes (kopf index of Robots by (namespace, envFrom.secretName));
- another Robot with the same repository is deleted (kopf index of Robots by repository key): the newer may run;
- break before make (robot_operator.handover): a winner waiting for a newer Robot on its repository to stop has
  that rival reconciled at once (with the winner's claim added, which the index may not hold yet), and the rival's
  Deployment going to 0 and its pods finishing or going away reconcile the other Robots claiming the repository
  (kopf index of repository keys by Robot), so the winner scales up as soon as the rival is gone; a deleted Robot
  that had others on its repository is remembered (`DEPARTED`) until they have seen its pods gone;
- a periodic resync (a plain thread, `resync_forever`) as a safety net. kopf timers and daemons are NOT used: they
  force a finalizer on Robots, and the design forbids a blocking finalizer (children go by owner references).
Backup Jobs that finish have their result copied into the Robot's status (robot_operator.backups).

kopf keeps its progress and diff-base in annotations under names.KOPF_ANNOTATION_PREFIX; the diff-base is the
Robot's spec, which by design holds no secret (the CRD refuses GOPHER_ENCRYPTION_KEY etc. in spec.env).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import kopf

from robot_operator import backups, handover, kube, metrics, names, peers
from robot_operator.conflict import RepoClaim, seniority
from robot_operator.reconcile import Outcome, PeerLookup, Reconciler

log = logging.getLogger(__name__)

Obj = dict[str, Any]
ROBOTS: Final = (names.GROUP, names.VERSION, names.PLURAL)
MANAGED: Final = {names.LABEL_MANAGED_BY: names.MANAGER}
MANAGED_SELECTOR: Final = f"{names.LABEL_MANAGED_BY}={names.MANAGER}"
BACKUP_SELECTOR: Final = f"{names.LABEL_COMPONENT}={names.COMPONENT_BACKUP}"
# Server-side label selectors of the watched kinds (the handlers' `labels=` filters are only client-side: without
# these, kopf would list and watch every such object in the cluster and keep a memory for each).
WATCH_SELECTORS: Final = {
    ("", "v1", "services"): MANAGED_SELECTOR,
    ("", "v1", "serviceaccounts"): MANAGED_SELECTOR,
    ("", "v1", "pods"): MANAGED_SELECTOR,
    ("rbac.authorization.k8s.io", "v1", "roles"): MANAGED_SELECTOR,
    ("rbac.authorization.k8s.io", "v1", "rolebindings"): MANAGED_SELECTOR,
    ("apps", "v1", "deployments"): MANAGED_SELECTOR,
    ("batch", "v1", "cronjobs"): MANAGED_SELECTOR,
    ("batch", "v1", "jobs"): BACKUP_SELECTOR,
}
RETRY_DELAY_SECONDS: Final = 10
FIRST_RESYNC_SECONDS: Final = 30.0


@dataclass
class Runtime:
    """What the handlers share, set up once at startup (cli.run fills `resync_seconds`)."""

    client: kube.Kube | None = None
    resync_seconds: float = 300.0
    stop: threading.Event | None = None


RUNTIME: Final = Runtime()
DEPARTED: Final = handover.Departed()


def client() -> kube.Kube:
    if RUNTIME.client is None:
        RUNTIME.client = kube.Kube(kube.load_api_client())
    return RUNTIME.client


def post_event(robot: Mapping[str, Any], event_type: str, reason: str, message: str) -> None:
    """Post a core/v1 Event on a Robot through the API (works from any thread, unlike kopf's posting queue)."""
    metadata = robot.get("metadata") or {}
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{metadata.get('name', 'robot')}.", "namespace": metadata.get("namespace")},
        "involvedObject": {
            "apiVersion": names.API_VERSION,
            "kind": names.KIND,
            "name": metadata.get("name"),
            "namespace": metadata.get("namespace"),
            "uid": metadata.get("uid"),
        },
        "type": event_type,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": names.MANAGER},
        "reportingComponent": names.MANAGER,
        "reportingInstance": names.MANAGER,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    try:
        client().create(event)
    except kube.NamespaceTerminating:
        log.debug("no event %s on %s: its namespace is being deleted", reason, metadata.get("name"))
    except kube.KubeError as error:
        log.warning("could not post event %s on %s: %s", reason, metadata.get("name"), error)


def peer_lookup(index: Mapping[str, Iterable[RepoClaim]]) -> PeerLookup:
    def peers(repository_key: str) -> list[RepoClaim]:
        return list(index.get(repository_key, []))

    return peers


def reconciler(robots_by_repository: Mapping[str, Iterable[RepoClaim]]) -> Reconciler:
    return Reconciler(client(), post_event, peer_lookup(robots_by_repository), DEPARTED)


def reconcile_and_hand_over(
    body: Mapping[str, Any], robots_by_repository: Mapping[str, Iterable[RepoClaim]]
) -> Outcome:
    """Reconcile a Robot; when it won its repository but waits for a rival to stop, reconcile that rival too."""
    outcome = reconciler(robots_by_repository).reconcile(body)
    if outcome.handover is not None:
        stand_down(outcome.handover, robots_by_repository)
    return outcome


def stand_down(waiting: handover.Handover, robots_by_repository: Mapping[str, Iterable[RepoClaim]]) -> None:
    """Reconcile the rival a winner waits for, the winner's claim added to the index (which may not hold it yet:
    the winner's status naming the repository was only just written), so that the rival sees the older winner and
    scales down."""
    rival = waiting.rival
    log.info("Robot %s must stand down for the older Robot %s", rival.display, waiting.winner.display)
    known = {key: list(claims) for key, claims in robots_by_repository.items() if key == waiting.winner.repository_key}
    known.setdefault(waiting.winner.repository_key, []).append(waiting.winner)
    reconciler(known).reconcile({"metadata": {"namespace": rival.namespace, "name": rival.name}})


def run_reconcile(body: Mapping[str, Any], robots_by_repository: kopf.Index[str, RepoClaim]) -> Outcome:
    """Reconcile, turning API failures into kopf retries (TemporaryError: they may heal)."""
    try:
        return reconcile_and_hand_over(body, robots_by_repository)
    except kube.KubeError as error:
        raise kopf.TemporaryError(f"API request failed: {error}", delay=RETRY_DELAY_SECONDS) from None


def reconcile_by_name(namespace: str, name: str, robots_by_repository: kopf.Index[str, RepoClaim]) -> None:
    """Reconcile a Robot by name (the reconciler reads it; a Robot that is gone or going is left alone)."""
    run_reconcile({"metadata": {"namespace": namespace, "name": name}}, robots_by_repository)


def owner_robot(meta: Mapping[str, Any]) -> str | None:
    """The name of the Robot that owns a child, from its controller owner reference."""
    for reference in meta.get("ownerReferences") or []:
        if reference.get("kind") == names.KIND and str(reference.get("apiVersion", "")).startswith(names.GROUP):
            return str(reference.get("name"))
    return None


# --- startup ---------------------------------------------------------------------------------------------------------
@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.finalizer = names.FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=names.KOPF_ANNOTATION_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=names.KOPF_ANNOTATION_PREFIX, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    settings.peering.standalone = True
    apply_watch_selectors(settings)
    client()
    if RUNTIME.resync_seconds > 0:
        RUNTIME.stop = threading.Event()
        threading.Thread(target=resync_forever, name="robot-resync", daemon=True).start()


def apply_watch_selectors(settings: kopf.OperatorSettings) -> None:
    """Let the API server filter the child kinds' lists and watches (Secrets and Robots stay unfiltered)."""
    for resource, selector in WATCH_SELECTORS.items():
        settings.watching.label_selectors[resource] = selector


@kopf.on.cleanup()
def stop_resync(**_: Any) -> None:
    if RUNTIME.stop is not None:
        RUNTIME.stop.set()


def resync_once() -> int:
    """Reconcile every Robot once (used by the resync thread); returns how many were reconciled."""
    robots = client().list(kube.ROBOT)
    by_repository: dict[str, list[RepoClaim]] = {}
    for body in robots:
        for key, value in repository_entry(body).items():
            by_repository.setdefault(key, []).append(value)
    done = 0
    for body in robots:
        if (body.get("metadata") or {}).get("deletionTimestamp"):
            continue
        try:
            reconcile_and_hand_over(body, by_repository)
            done += 1
        except kube.KubeError as error:
            log.warning("resync of %s failed: %s", body["metadata"].get("name"), error)
    metrics.set_phase_counts(str((body.get("status") or {}).get("phase") or names.PHASE_PENDING) for body in robots)
    return done


def resync_forever() -> None:
    """Resync soon after startup (fills the robots-by-phase gauge), then every resync_seconds until stopped."""
    stop = RUNTIME.stop
    delay = min(FIRST_RESYNC_SECONDS, RUNTIME.resync_seconds)
    while stop is not None and not stop.wait(delay):
        delay = RUNTIME.resync_seconds
        try:
            resync_once()
        except Exception:
            log.exception("resync failed; the next one runs in %ss", RUNTIME.resync_seconds)


# --- indexes -------------------------------------------------------------------------------------------------------
@kopf.index(*ROBOTS)
def robots_by_env_secret(namespace: str | None, name: str, spec: kopf.Spec, **_: Any) -> dict[tuple[str, str], str]:
    """(namespace, .env Secret name) -> Robot names: a change of that Secret re-reconciles them."""
    secret_name = (spec.get("envFrom") or {}).get("secretName")
    return {(str(namespace), str(secret_name)): name} if secret_name else {}


def repository_entry(body: Mapping[str, Any]) -> dict[str, RepoClaim]:
    """The Robot's claim on the repository its status names (none while it has no valid .env)."""
    claim = peers.status_claim(body)
    return {claim.repository_key: claim} if claim is not None else {}


@kopf.index(*ROBOTS)
def robots_by_repository(body: kopf.Body, **_: Any) -> Obj:
    """Repository key -> the claims (namespace, name, creationTimestamp) of the Robots using it (status.repository)."""
    return dict(repository_entry(body))


@kopf.index(*ROBOTS)
def repository_of_robot(body: kopf.Body, namespace: str | None, name: str, **_: Any) -> dict[tuple[str, str], str]:
    """(namespace, name) -> the repository key the Robot's status names (to find the Robots that may wait for it)."""
    return {(str(namespace), name): key for key in repository_entry(body)}


# --- the Robot itself -------------------------------------------------------------------------------------------------
def repository_index(kwargs: Mapping[str, Any]) -> kopf.Index[str, RepoClaim]:
    """The robots_by_repository index kopf passes as a keyword (indexes arrive by their function's name)."""
    index: kopf.Index[str, RepoClaim] = kwargs["robots_by_repository"]
    return index


@kopf.on.resume(*ROBOTS)
@kopf.on.create(*ROBOTS)
@kopf.on.update(*ROBOTS)
def reconcile_robot(body: kopf.Body, **kwargs: Any) -> None:
    run_reconcile(body, repository_index(kwargs))


@kopf.on.event(*ROBOTS)
def robot_event(event: kopf.RawEvent, body: kopf.Body, namespace: str | None, name: str, **kwargs: Any) -> None:
    """Keep the one-robot-per-repository rule prompt, both ways:

    - a deleted Robot frees its repository: every other Robot claiming it is reconciled (the oldest then runs, once
      the deleted one's pods are gone: it is remembered in DEPARTED meanwhile). This
      is a watch event, not `on.delete`: without a finalizer (by design) the Robot is gone at once and kopf runs no
      deletion handler; the DELETED event still carries its last status (and so its repository);
    - a Robot whose status names a repository makes the NEWER Robots claiming it reconcile, so that two Robots
      created at the same moment settle on one winner without waiting for the resync.
    """
    index = repository_index(kwargs)
    deleted = event.get("type") == "DELETED"
    for key, mine in repository_entry(body).items():
        others = [claim for claim in list(index.get(key, [])) if claim.key != (namespace, name)]
        if deleted and others:
            DEPARTED.remember(mine)  # its pod may still be making its final backup
        for claim in others:
            if deleted or seniority(claim.created, claim.key) > seniority(mine.created, mine.key):
                reconcile_by_name(claim.namespace, claim.name, index)


# --- children: drift and deletion are put back ------------------------------------------------------------------------
def on_child_event(
    event_type: str, meta: Mapping[str, Any], namespace: str, robots_by_repository: kopf.Index[str, RepoClaim]
) -> None:
    robot = owner_robot(meta) or (meta.get("labels") or {}).get(names.LABEL_INSTANCE)
    if robot and event_type in ("ADDED", "MODIFIED", "DELETED"):
        reconcile_by_name(namespace, str(robot), robots_by_repository)


@kopf.on.event("", "v1", "services", labels=MANAGED)
@kopf.on.event("", "v1", "serviceaccounts", labels=MANAGED)
@kopf.on.event("rbac.authorization.k8s.io", "v1", "roles", labels=MANAGED)
@kopf.on.event("rbac.authorization.k8s.io", "v1", "rolebindings", labels=MANAGED)
@kopf.on.event("batch", "v1", "cronjobs", labels=MANAGED)
def child_changed(event: kopf.RawEvent, meta: kopf.Meta, namespace: str | None, **kwargs: Any) -> None:
    on_child_event(str(event.get("type")), meta, str(namespace), repository_index(kwargs))


@kopf.on.event("apps", "v1", "deployments", labels=MANAGED)
def deployment_changed(event: kopf.RawEvent, body: kopf.Body, namespace: str | None, **kwargs: Any) -> None:
    """A Robot's Deployment changed: put drift back; when it went to 0 or away, a winner may be waiting for it."""
    event_type = str(event.get("type"))
    on_child_event(event_type, body.meta, str(namespace), repository_index(kwargs))
    if handover.deployment_released(event_type, body):
        wake_waiters(str(namespace), body.meta, kwargs)


@kopf.on.event("", "v1", "pods", labels=MANAGED)
def pod_changed(event: kopf.RawEvent, body: kopf.Body, namespace: str | None, **kwargs: Any) -> None:
    """A Robot's pod (robot or backup) finished or is gone: a winner may be waiting for it."""
    if handover.pod_released(str(event.get("type")), body):
        wake_waiters(str(namespace), body.meta, kwargs)


def wake_waiters(namespace: str, meta: Mapping[str, Any], kwargs: Mapping[str, Any]) -> None:
    """Reconcile the other Robots claiming the repository of the Robot that owns this object (by its instance
    label); a Robot with no other claimant on its repository (the usual case) costs nothing."""
    robot = (meta.get("labels") or {}).get(names.LABEL_INSTANCE)
    if not robot:
        return
    index = repository_index(kwargs)
    by_robot: kopf.Index[tuple[str, str], str] = kwargs["repository_of_robot"]
    robot_key = (namespace, str(robot))
    for key in list(by_robot.get(robot_key, [])) or DEPARTED.repositories_of(robot_key):
        for claim in list(index.get(key, [])):
            if claim.key != (namespace, robot):
                reconcile_by_name(claim.namespace, claim.name, index)


@kopf.on.event("", "v1", "secrets")
def secret_changed(event: kopf.RawEvent, meta: kopf.Meta, namespace: str | None, name: str, **kwargs: Any) -> None:
    """Our env Secret drifted, or a Robot's `.env` Secret changed: reconcile the Robot(s) concerned."""
    index = repository_index(kwargs)
    if (meta.get("labels") or {}).get(names.LABEL_MANAGED_BY) == names.MANAGER:
        on_child_event(str(event.get("type")), meta, str(namespace), index)
    by_secret: kopf.Index[tuple[str, str], str] = kwargs["robots_by_env_secret"]
    for robot in list(by_secret.get((str(namespace), name), [])):
        reconcile_by_name(str(namespace), robot, index)


# --- backups ---------------------------------------------------------------------------------------------------------
@kopf.on.event("batch", "v1", "jobs", labels={names.LABEL_COMPONENT: names.COMPONENT_BACKUP})
def backup_job_changed(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
    if event.get("type") == "DELETED":
        return
    try:
        backups.record_backup(client(), post_event, dict(body))
    except kube.KubeError as error:
        raise kopf.TemporaryError(f"cannot record backup result: {error}", delay=RETRY_DELAY_SECONDS) from None
