"""The one-robot-per-repository rule: of the Robots sharing a normalised repository, the oldest runs.

"Oldest" orders by metadata.creationTimestamp, then, within the same second, a Robot whose Deployment already runs
before one whose Deployment does not, then namespace, then name. Every Robot computes the same single winner from
the same claims, whichever of them is reconciled first.

Why a running Robot wins a tie within its second: creationTimestamp has a resolution of one second, so two Robots
created in the same second are, as far as the API can tell, equally old; the namespace/name tiebreak is arbitrary.
The operator decides to scale a Robot up from 0 only under a per-repository lock, after a fresh LIST of the Robots
(see `robot_operator.peers`). When Robot A was decided first, B may not have existed yet at A's LIST, so A alone
was the winner and its Deployment went to 1. If B then won by namespace/name, B's reconcile would scale B up while
A still runs (two robots on one state, until A's next reconcile demotes it), and A would be stopped for nothing.
Ranking "already runs" above the arbitrary tiebreak makes the robot that got there first keep the repository, and
B, reconciled after A's Deployment write, sees A running and stays at 0. The rule is still deterministic: when
neither or both of the same-second Robots run, namespace and name decide, and the loser of "both run" scales down.
A Robot older by at least one second still wins over a running newer one (the design's "the newer one gets
Conflict"); the `running` flag only matters within the same second, so callers only need to look it up for
`tie_candidates`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

_NEWEST = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RepoClaim:
    """A Robot's claim on a repository: identity, creationTimestamp (RFC 3339) and `envcheck.repository_key`.

    `running` tells whether its Deployment runs (spec.replicas >= 1); it only breaks same-second ties.
    """

    namespace: str
    name: str
    created: str
    repository_key: str
    running: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    @property
    def display(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def rank(self) -> tuple[datetime, int, str, str]:
        return seniority(self.created, self.key, self.running)


def seniority(created: str, key: tuple[str, str], running: bool = False) -> tuple[datetime, int, str, str]:
    """Sort key: older first; a missing or unreadable timestamp counts as newest; within the same second a running
    Robot first; then namespace and name."""
    return (_parse_time(created), 0 if running else 1, key[0], key[1])


def find_conflict(
    robot_key: tuple[str, str], created: str, repo_key: str, others: Iterable[RepoClaim], running: bool = False
) -> RepoClaim | None:
    """The oldest OTHER Robot on the same repository that ranks before this one, else None (this one may run).

    `running`: whether this Robot's own Deployment runs. A Robot without a repository key (invalid env) neither
    conflicts nor blocks others.
    """
    if not repo_key:
        return None
    mine = seniority(created, robot_key, running)
    rivals = [
        other for other in others if other.repository_key == repo_key and other.key != robot_key and other.rank < mine
    ]
    return min(rivals, key=lambda other: other.rank, default=None)


def same_second(created: str, other: str) -> bool:
    """Both timestamps fall in the same second (or both are unreadable): only `running` and names tell them apart."""
    return _parse_time(created).replace(microsecond=0) == _parse_time(other).replace(microsecond=0)


def tie_candidates(
    robot_key: tuple[str, str], created: str, repo_key: str, others: Iterable[RepoClaim]
) -> list[RepoClaim]:
    """The other Robots on the same repository created in this Robot's second: whether their Deployment runs can
    change the answer of `find_conflict`, so the caller looks it up for these (and only these)."""
    if not repo_key:
        return []
    return [
        other
        for other in others
        if other.repository_key == repo_key and other.key != robot_key and same_second(created, other.created)
    ]


def merge_claims(known: Iterable[RepoClaim], fresh: Iterable[RepoClaim]) -> list[RepoClaim]:
    """The union of two sets of claims, one per Robot: a fresh claim replaces a known one of the same Robot."""
    merged = {claim.key: claim for claim in known}
    merged.update((claim.key, claim) for claim in fresh)
    return list(merged.values())


def conflict_message(winner: RepoClaim) -> str:
    """The Conflict condition's message for the newer Robot (names the other Robot, never the URL's credentials)."""
    return conflict_message_for(winner.display)


def conflict_message_for(other: str) -> str:
    """The Conflict message naming the older Robot "namespace/name"."""
    return f"the repository is already used by the older Robot {other}; this robot stays scaled to 0"


def rival(robot_key: tuple[str, str], created: str, repo_key: str, peers: Iterable[tuple[str, str, str]]) -> str | None:
    """`find_conflict` for peers given as (namespace, name, creationTimestamp) already known to share `repo_key`.

    Returns the winner as "namespace/name", or None when this Robot may run.
    """
    claims = [RepoClaim(namespace, name, created_at, repo_key) for namespace, name, created_at in peers]
    winner = find_conflict(robot_key, created, repo_key, claims)
    return winner.display if winner else None


def _parse_time(created: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(created)
    except ValueError:
        return _NEWEST
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
