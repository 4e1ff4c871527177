"""The one-robot-per-repository rule: of the Robots sharing a normalised repository, the oldest runs.

"Oldest" orders by metadata.creationTimestamp, then namespace, then name, so two Robots created in the same
second still get a single, stable winner, whichever of them is reconciled first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

_NEWEST = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RepoClaim:
    """A Robot's claim on a repository: identity, creationTimestamp (RFC 3339) and `envcheck.repository_key`."""

    namespace: str
    name: str
    created: str
    repository_key: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    @property
    def display(self) -> str:
        return f"{self.namespace}/{self.name}"


def seniority(created: str, key: tuple[str, str]) -> tuple[datetime, str, str]:
    """Sort key: older first; a missing or unreadable timestamp counts as newest; ties by namespace and name."""
    return (_parse_time(created), key[0], key[1])


def find_conflict(
    robot_key: tuple[str, str], created: str, repo_key: str, others: Iterable[RepoClaim]
) -> RepoClaim | None:
    """The oldest OTHER Robot on the same repository that is older than this one, else None (this one may run).

    A Robot without a repository key (invalid env) neither conflicts nor blocks others.
    """
    if not repo_key:
        return None
    mine = seniority(created, robot_key)
    rivals = [
        other
        for other in others
        if other.repository_key == repo_key and other.key != robot_key and seniority(other.created, other.key) < mine
    ]
    return min(rivals, key=lambda other: seniority(other.created, other.key), default=None)


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
