"""The fresh one-robot-per-repository decision: same-second ties go to the running Robot, claims merge, and the
scale-up protocol (decisions serialised per repository, each over a fresh view) never runs two Robots at once."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from robot_operator import names, peers
from robot_operator.conflict import RepoClaim, find_conflict, merge_claims, same_second, tie_candidates

REPO = "127.0.0.1:2222/shared/floyd"
SECOND = "2026-01-01T00:00:00Z"
NEXT_SECOND = "2026-01-01T00:00:01Z"


def _claim(namespace: str, created: str = SECOND, running: bool = False, repo: str = REPO) -> RepoClaim:
    return RepoClaim(namespace, "floyd", created, repo, running)


def test_running_robot_wins_a_same_second_tie_it_would_lose_by_namespace() -> None:
    first_by_name, running = _claim("a"), _claim("b", running=True)
    assert find_conflict(first_by_name.key, SECOND, REPO, [running], running=False) == running
    assert find_conflict(running.key, SECOND, REPO, [first_by_name], running=True) is None


def test_without_running_robots_namespace_breaks_the_tie_as_before() -> None:
    a, b = _claim("a"), _claim("b")
    assert find_conflict(b.key, SECOND, REPO, [a]) == a
    assert find_conflict(a.key, SECOND, REPO, [b]) is None


def test_when_both_run_namespace_decides_and_the_loser_scales_down() -> None:
    a, b = _claim("a", running=True), _claim("b", running=True)
    assert find_conflict(b.key, SECOND, REPO, [a], running=True) == a
    assert find_conflict(a.key, SECOND, REPO, [b], running=True) is None


def test_an_older_second_beats_a_running_newer_robot() -> None:
    older, newer_running = _claim("z"), _claim("a", NEXT_SECOND, running=True)
    assert find_conflict(newer_running.key, NEXT_SECOND, REPO, [older], running=True) == older
    assert find_conflict(older.key, SECOND, REPO, [newer_running], running=False) is None


def test_fractional_timestamps_in_one_second_are_a_tie() -> None:
    assert same_second("2026-01-01T00:00:00.100Z", "2026-01-01T00:00:00.900+00:00")
    assert not same_second(SECOND, NEXT_SECOND)
    assert same_second("", "not a time")


def test_tie_candidates_are_other_robots_of_the_same_repository_and_second() -> None:
    me = _claim("me")
    tie, later, other_repo = _claim("a"), _claim("b", NEXT_SECOND), _claim("c", repo="127.0.0.1/else")
    assert tie_candidates(me.key, SECOND, REPO, [me, tie, later, other_repo]) == [tie]
    assert tie_candidates(me.key, SECOND, "", [tie]) == []


def test_merge_keeps_one_claim_per_robot_and_prefers_the_fresh_one() -> None:
    stale, only_known = _claim("a", NEXT_SECOND), _claim("b")
    fresh, only_fresh = _claim("a", SECOND, running=True), _claim("c")
    merged = merge_claims([stale, only_known], [fresh, only_fresh])
    assert sorted(merged, key=lambda claim: claim.namespace) == [fresh, only_known, only_fresh]


def test_status_claim_matches_the_index_and_skips_invalid_or_unnamed() -> None:
    body = {
        "metadata": {"namespace": "ns", "name": "floyd", "creationTimestamp": SECOND},
        "status": {"repository": "ssh://git@127.0.0.1:2222/Shared/floyd.git/", "phase": names.PHASE_PENDING},
    }
    assert peers.status_claim(body) == RepoClaim("ns", "floyd", SECOND, "127.0.0.1:2222/shared/floyd")
    assert peers.status_claim({**body, "status": {**body["status"], "phase": names.PHASE_INVALID}}) is None
    assert peers.status_claim({**body, "status": {}}) is None
    assert peers.status_claim({**body, "status": {"repository": "not a url"}}) is None


def test_replicas_of_a_deployment() -> None:
    assert peers.replicas_of(None) == 0
    assert peers.replicas_of({"spec": {"replicas": 0}}) == 0
    assert peers.replicas_of({"spec": {}}) == 1
    assert peers.replicas_of({"spec": {"replicas": 3}}) == 3


# --- the protocol as the reconciler runs it, on a model of the cluster ------------------------------------------------
def _decide(me: RepoClaim, visible: list[RepoClaim], running: dict[tuple[str, str], bool]) -> bool:
    """One reconcile of `me` (under the repository lock): True when it may run. As Reconciler.decide: the running
    state is looked up for same-second rivals, and a Robot that already runs decides from the same claims."""
    looked_up = [replace(claim, running=running[claim.key]) for claim in visible if claim.key != me.key]
    return find_conflict(me.key, me.created, REPO, looked_up, running=running[me.key]) is None


@given(
    created=st.lists(st.sampled_from([SECOND, NEXT_SECOND]), min_size=2, max_size=4),
    namespaces=st.permutations(["a", "b", "c", "d"]),
    schedule=st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=16),
)
def test_serialised_fresh_decisions_never_run_two_robots(
    created: list[str], namespaces: list[str], schedule: list[int]
) -> None:
    """Robots appear one by one (creation order = list order, timestamps non-decreasing); between appearances and
    after, reconciles run in any order, each seeing every Robot created so far and their Deployments as they are.
    At every step at most one Robot runs; once all exist and each has reconciled twice, exactly one runs: the oldest
    second's Robot that ran first, else the first by namespace."""
    created = sorted(created)
    robots = [_claim(namespace, stamp) for namespace, stamp in zip(namespaces, created, strict=False)]
    running = {robot.key: False for robot in robots}
    existing: list[RepoClaim] = []
    steps = [("create", i) for i in range(len(robots))]
    for position, pick in enumerate(schedule):
        steps.insert(min(position * 2, len(steps)), ("reconcile", pick))
    steps += [("reconcile", i) for i in range(len(robots))] * 2
    for action, index in steps:
        if action == "create":
            existing.append(robots[index])
            continue
        if not existing:
            continue
        me = existing[index % len(existing)]
        running[me.key] = _decide(me, existing, running)
        assert sum(running.values()) <= 1, f"two robots run after {me.display}'s reconcile"
    assert sum(running.values()) == 1
    winner = next(robot for robot in robots if running[robot.key])
    assert winner.created == created[0]
