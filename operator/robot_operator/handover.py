"""Break before make: a Robot that wins its repository gets a replica only once every rival on it has stopped.

"Oldest wins" (robot_operator.conflict) can give the repository to a Robot while a newer one still runs: an older
Robot whose `.env` Secret appears or is fixed later wins at once, and the newer one runs until its own reconcile
scales it down; even at 0 replicas its pod may still be terminating (it makes a final backup on SIGTERM, for up to
terminationGracePeriodSeconds). So a winner about to scale up from 0 first looks at every other Robot claiming
the repository: while one still has a Deployment asking for a replica, or a pod that has not finished (a pod being
deleted counts: it may still be pushing its backup), the winner stays at 0, reports phase Pending with reason
`WAITING_REASON` naming that Robot, and has it told to stand down. The rival's Deployment and pod events wake the
winner again (`deployment_released`, `pod_released`). The pure parts live here; the reads in `robot_operator.peers`.

A deleted Robot no longer claims anything, but its pod may still be making its final backup (children go by owner
references, the pod is deleted last). `Departed` remembers, in memory, the claims of deleted Robots that had
others on their repository, so that those others wait for its Deployment and pods too, and are woken by their
events; an entry is forgotten once a waiter has seen that Robot stopped (an operator restart forgets them all).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from robot_operator.conflict import RepoClaim

WAITING_REASON: Final = "WaitingForRivalToStop"
"""Reason of the Ready and DeploymentAvailable conditions of a winner waiting for a rival to stop."""
FINISHED_POD_PHASES: Final = frozenset({"Succeeded", "Failed"})


@dataclass(frozen=True)
class Handover:
    """The winner of a repository (`winner`, its own claim) waits for `rival` to stop before it scales up."""

    winner: RepoClaim
    rival: RepoClaim


def rivals_on_repository(robot_key: tuple[str, str], repo_key: str, claims: Iterable[RepoClaim]) -> list[RepoClaim]:
    """The other Robots claiming the repository, oldest first (the order their state is checked in)."""
    if not repo_key:
        return []
    found = {claim.key: claim for claim in claims if claim.repository_key == repo_key and claim.key != robot_key}
    return sorted(found.values(), key=lambda claim: claim.rank)


def active_pods(pods: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The pods that have not finished (Succeeded/Failed); a pod being deleted is still active until it is gone."""
    return [pod for pod in pods if (pod.get("status") or {}).get("phase") not in FINISHED_POD_PHASES]


def still_runs(replicas: int, pods: Iterable[Mapping[str, Any]]) -> bool:
    """A rival still runs while its Deployment asks for a replica or one of its pods has not finished."""
    return replicas > 0 or bool(active_pods(pods))


def waiting_message(rival: str) -> str:
    """The condition message of a winner waiting for Robot `rival` ("namespace/name") to stop (names, no values)."""
    return (
        f"this Robot is the oldest on its repository; it starts once the newer Robot {rival} has stopped "
        "(its Deployment at 0 replicas and no pod left)"
    )


def deployment_released(event_type: str, deployment: Mapping[str, Any]) -> bool:
    """Whether a watch event of a Robot's Deployment may let a waiting winner go: it went to 0 replicas or away."""
    return event_type == "DELETED" or (deployment.get("spec") or {}).get("replicas") == 0


def pod_released(event_type: str, pod: Mapping[str, Any]) -> bool:
    """Whether a watch event of a Robot's pod may let a waiting winner go: the pod finished or is gone (a pod
    starting, running or still terminating does not)."""
    return event_type == "DELETED" or not active_pods([pod])


@dataclass
class Departed:
    """The claims of deleted Robots whose pods may still run, by repository key (thread-safe, in memory)."""

    claims: dict[str, dict[tuple[str, str], RepoClaim]] = field(default_factory=dict)
    guard: threading.Lock = field(default_factory=threading.Lock)

    def remember(self, claim: RepoClaim) -> None:
        with self.guard:
            self.claims.setdefault(claim.repository_key, {})[claim.key] = claim

    def forget(self, claim: RepoClaim) -> None:
        with self.guard:
            on_repository = self.claims.get(claim.repository_key, {})
            on_repository.pop(claim.key, None)
            if not on_repository:
                self.claims.pop(claim.repository_key, None)

    def on(self, repository_key: str) -> list[RepoClaim]:
        """The departed Robots that claimed this repository."""
        with self.guard:
            return list(self.claims.get(repository_key, {}).values())

    def repositories_of(self, robot_key: tuple[str, str]) -> list[str]:
        """The repository keys a departed Robot claimed (to wake the Robots waiting for it)."""
        with self.guard:
            return [key for key, on_repository in self.claims.items() if robot_key in on_repository]
