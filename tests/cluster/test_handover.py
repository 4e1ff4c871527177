"""Break before make: an older Robot that only becomes valid after a newer one on the same repository runs waits,
at 0 replicas, until the newer one is at 0 AND its pod is gone; at no observed moment do both Deployments ask for a
replica. Likewise, when the running Robot is deleted, the one in Conflict starts only once the deleted one's pod
(its final backup) is gone.

Against the real control plane and the operator running as its own ServiceAccount (tests/cluster/conftest.py);
the Deployments are watched from before the Robots exist (tests/cluster/test_conflict_race.py's DeploymentWatch).

The one emulated step: this control plane has no scheduler and no kubelet, so the ReplicaSet's pods stay Pending
on no node, and the API server removes a pod bound to no node at once when it is deleted (grace period 0): the
newer robot's pod would vanish the moment its ReplicaSet scales down, and "the old pod is still terminating" could
not happen. A kubelet keeps a deleted pod (deletionTimestamp set) until its containers have exited, here until the
final backup is pushed. The test plays that part with a finalizer of its own on the newer robot's pod: the pod is
then Terminating after the scale-down, like a pod running its final backup, until the test removes the finalizer,
as a kubelet would let the pod go once its containers have exited.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from kubernetes import client as k8s_client

from robot_operator import handover, names
from tests.cluster import robots as r
from tests.cluster.conftest import Kubectl, OperatorProcess, wait_for
from tests.cluster.test_conflict_race import DeploymentWatch, apps_api
from tests.kubecluster import demo_dotenv

__all__ = ["apps_api"]  # the fixture, imported so that pytest finds it here

HOLD_FINALIZER = "test.gopherbot.io/emulated-kubelet"
HOLD_S = 5.0
"""How long the test keeps the newer robot's pod Terminating once everything else has settled."""


@dataclass
class HistoryWatch(DeploymentWatch):
    """A DeploymentWatch that also keeps every observed (namespace, replicas), in the order etcd made them."""

    history: list[tuple[str, int]] = field(default_factory=list)

    def observe(self, event_type: str, deployment: Any) -> None:
        replicas = deployment.spec.replicas if deployment.spec.replicas is not None else 1
        self.history.append((str(deployment.metadata.namespace), 0 if event_type == "DELETED" else int(replicas)))
        super().observe(event_type, deployment)


def _without_encryption_key(dotenv: str) -> str:
    lines = [line for line in dotenv.splitlines() if not line.startswith(names.GOPHER_ENCRYPTION_KEY + "=")]
    return "\n".join(lines) + "\n"


def _robot_pods(kubectl: Kubectl, name: str, namespace: str) -> list[dict[str, Any]]:
    return r.pods_of(kubectl, name, namespace)


def _hold_pods(kubectl: Kubectl, namespace: str, pods: list[dict[str, Any]]) -> None:
    patch = json.dumps({"metadata": {"finalizers": [HOLD_FINALIZER]}})
    for pod in pods:
        kubectl.run("patch", "pod", pod["metadata"]["name"], "-n", namespace, "--type=merge", "-p", patch)


def _release_pods(kubectl: Kubectl, name: str, namespace: str) -> None:
    """Remove the test's finalizer from the robot's pods (the emulated kubelet lets them go)."""
    patch = json.dumps({"metadata": {"finalizers": None}})
    for pod in _robot_pods(kubectl, name, namespace):
        if HOLD_FINALIZER in (pod["metadata"].get("finalizers") or []):
            kubectl.run("patch", "pod", pod["metadata"]["name"], "-n", namespace, "--type=merge", "-p", patch)


def _waiting_condition(kubectl: Kubectl, name: str, namespace: str) -> dict[str, Any] | None:
    robot = r.robot(kubectl, name, namespace)
    ready = r.condition(robot, names.CONDITION_READY)
    waiting = robot.get("status", {}).get("phase") == names.PHASE_PENDING
    return ready if waiting and ready and ready.get("reason") == handover.WAITING_REASON else None


@pytest.mark.usefixtures("operator")
def test_an_older_robot_that_becomes_valid_waits_for_the_newer_one_to_stop(
    kubectl: Kubectl,
    new_namespace: Callable[[], str],
    apps_api: k8s_client.AppsV1Api,
    operator: OperatorProcess,
    measure: Callable[[str], None],
) -> None:
    older, newer = new_namespace(), new_namespace()
    name = f"hand-{older[-4:]}{newer[-4:]}"
    repository = f"ssh://git@127.0.0.1:2222/handover/{older}-{newer}"
    follower = HistoryWatch(apps_api, name)
    follower.start()
    older_text, newer_text = demo_dotenv(repository), demo_dotenv(repository + ".git")
    try:
        # A, the older Robot, is created first but Invalid: its .env lacks GOPHER_ENCRYPTION_KEY.
        r.create_robot(kubectl, name, older, dotenv=_without_encryption_key(older_text))
        r.wait_phase(kubectl, name, older, names.PHASE_INVALID)
        time.sleep(1.1)  # creationTimestamp has a one-second resolution: B is strictly newer
        # B, newer and valid, runs: its Deployment at 1, its pod created by the ReplicaSet (Pending: no kubelet).
        r.create_robot(kubectl, name, newer, dotenv=newer_text)
        wait_for(lambda: r.replicas(kubectl, name, newer) == 1, f"Robot {newer}/{name}'s Deployment at 1")
        pods = wait_for(lambda: _robot_pods(kubectl, name, newer), f"a pod of Robot {newer}/{name}")
        _hold_pods(kubectl, newer, pods)  # the emulated kubelet: the pod stays Terminating once deleted
        assert r.replicas(kubectl, name, older) is None, "the Invalid older Robot has a Deployment"

        # A's .env is fixed: A is the oldest valid Robot on the repository and wins it ...
        kubectl.apply(r.dotenv_secret(f"{name}-dotenv", older, older_text))
        # ... B is told to stand down: Conflict naming A, Deployment at 0, its pod deleted but still Terminating ...
        r.wait_phase(kubectl, name, newer, names.PHASE_CONFLICT)
        conflict = r.condition(r.robot(kubectl, name, newer), names.CONDITION_CONFLICT)
        assert conflict is not None
        assert f"{older}/{name}" in conflict["message"]
        wait_for(lambda: r.replicas(kubectl, name, newer) == 0, f"Robot {newer}/{name}'s Deployment at 0")
        terminating = wait_for(
            lambda: [p for p in _robot_pods(kubectl, name, newer) if p["metadata"].get("deletionTimestamp")],
            f"Robot {newer}/{name}'s pod deleted by its ReplicaSet (and held Terminating)",
        )
        # ... and A waits, at 0, Pending with WaitingForRivalToStop naming B, for as long as B's pod exists.
        waiting = wait_for(lambda: _waiting_condition(kubectl, name, older), f"Robot {older}/{name} waiting for B")
        assert f"{newer}/{name}" in waiting["message"]
        time.sleep(HOLD_S)
        assert _robot_pods(kubectl, name, newer), "the held pod is gone"
        assert r.replicas(kubectl, name, older) == 0, "the older Robot scaled up while the newer one's pod existed"
        assert _waiting_condition(kubectl, name, older) is not None
        held_events = len(follower.history)

        # The newer robot's pod goes (the emulated kubelet is done): A scales up, without any other nudge.
        _release_pods(kubectl, name, newer)
        released = time.monotonic()
        wait_for(lambda: not _robot_pods(kubectl, name, newer), f"Robot {newer}/{name}'s pod gone")
        wait_for(lambda: r.replicas(kubectl, name, older) == 1, f"Robot {older}/{name}'s Deployment at 1")
        handover_s = time.monotonic() - released
        wait_for(lambda: follower.replicas.get(older) == 1, "the watch to see the older Deployment at 1", 60)
        time.sleep(2.0)  # keep watching a little: a late flip would show as an overlap
    finally:
        _release_pods(kubectl, name, newer)
        follower.stop()

    assert follower.overlaps == [], f"both Deployments had a replica at once: {follower.overlaps}"
    first_up = next(i for i, (ns, count) in enumerate(follower.history) if ns == older and count >= 1)
    assert first_up >= held_events, (
        f"the older Deployment got a replica while the newer pod was held: {follower.history}"
    )
    assert (newer, 1) in follower.history[:first_up], "the watch never saw the newer Robot running first"
    assert r.replicas(kubectl, name, newer) == 0
    assert r.phase(kubectl, name, newer) == names.PHASE_CONFLICT
    ready = r.condition(r.robot(kubectl, name, older), names.CONDITION_READY)
    assert ready is not None
    assert ready.get("reason") != handover.WAITING_REASON

    log = operator.log_text()
    assert f"waits for Robot {newer}/{name} to stop" in log
    for text in (older_text, newer_text):
        for line in text.splitlines():
            variable, _, value = line.partition("=")
            if variable in (names.GOPHER_ENCRYPTION_KEY, names.GOPHER_DEPLOY_KEY):
                assert value not in log, f"a value of {variable} reached the operator log"
    measure(
        f"handover: older Robot scaled up {handover_s:.1f} s after the newer robot's pod was released "
        f"({len(terminating)} pod held Terminating for {HOLD_S:.0f} s; {follower.events} Deployment events)"
    )


@pytest.mark.usefixtures("operator")
def test_a_robot_in_conflict_starts_only_after_the_deleted_winners_pod_is_gone(
    kubectl: Kubectl,
    new_namespace: Callable[[], str],
    apps_api: k8s_client.AppsV1Api,
    measure: Callable[[str], None],
) -> None:
    older, newer = new_namespace(), new_namespace()
    name = f"gone-{older[-4:]}{newer[-4:]}"
    repository = f"ssh://git@127.0.0.1:2222/handover/{older}-{newer}"
    follower = HistoryWatch(apps_api, name)
    follower.start()
    try:
        # A, older, runs (its pod held as a kubelet would while it makes its final backup); B, newer, is in Conflict.
        r.create_robot(kubectl, name, older, repository=repository)
        wait_for(lambda: r.replicas(kubectl, name, older) == 1, f"Robot {older}/{name}'s Deployment at 1")
        pods = wait_for(lambda: _robot_pods(kubectl, name, older), f"a pod of Robot {older}/{name}")
        _hold_pods(kubectl, older, pods)
        time.sleep(1.1)  # B strictly newer
        r.create_robot(kubectl, name, newer, repository=repository + ".git")
        r.wait_phase(kubectl, name, newer, names.PHASE_CONFLICT)
        assert r.replicas(kubectl, name, newer) == 0

        # A is deleted: its children go by owner references, its pod is deleted last and stays Terminating.
        kubectl.run("delete", "robots.gopherbot.io", name, "-n", older, "--wait=false")
        wait_for(
            lambda: [p for p in _robot_pods(kubectl, name, older) if p["metadata"].get("deletionTimestamp")],
            f"the deleted Robot {older}/{name}'s pod Terminating",
        )
        waiting = wait_for(lambda: _waiting_condition(kubectl, name, newer), f"Robot {newer}/{name} waiting for A")
        assert f"{older}/{name}" in waiting["message"]
        time.sleep(HOLD_S)
        assert _robot_pods(kubectl, name, older), "the held pod is gone"
        assert r.replicas(kubectl, name, newer) == 0, "B scaled up while the deleted Robot's pod existed"
        held_events = len(follower.history)

        _release_pods(kubectl, name, older)
        released = time.monotonic()
        wait_for(lambda: r.replicas(kubectl, name, newer) == 1, f"Robot {newer}/{name}'s Deployment at 1")
        handover_s = time.monotonic() - released
        wait_for(lambda: follower.replicas.get(newer) == 1, "the watch to see B's Deployment at 1", 60)
    finally:
        _release_pods(kubectl, name, older)
        follower.stop()
    assert follower.overlaps == [], f"both Deployments had a replica at once: {follower.overlaps}"
    first_up = next(i for i, (ns, count) in enumerate(follower.history) if ns == newer and count >= 1)
    assert first_up >= held_events, f"B's Deployment got a replica while A's pod was held: {follower.history}"
    assert (older, 1) in follower.history[:first_up], "the watch never saw A running first"
    measure(f"handover after deletion: B scaled up {handover_s:.1f} s after the deleted Robot's pod was released")
