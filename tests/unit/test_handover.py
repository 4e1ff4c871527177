"""Break before make: which rivals a winner checks, when a rival still runs (Deployment or unfinished pod), the
Pending/WaitingForRivalToStop status naming it, the events that wake a waiting winner, and the index entry of a
Robot (handlers.repository_entry, now peers.status_claim)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from robot_operator import handlers, handover, names, peers
from robot_operator.conflict import RepoClaim
from robot_operator.model import Robot
from robot_operator.status import Facts, build_status, facts_from

REPO = "127.0.0.1:2222/shared/floyd"
OLD, NEW = "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"
T0 = "2026-12-03T10:00:00Z"


def _claim(namespace: str, created: str = NEW, repo: str = REPO) -> RepoClaim:
    return RepoClaim(namespace, "floyd", created, repo)


def _pod(phase: str, deleting: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "floyd-abc", "labels": {names.LABEL_INSTANCE: "floyd"}}
    if deleting:
        metadata["deletionTimestamp"] = T0
    return {"kind": "Pod", "metadata": metadata, "status": {"phase": phase}}


def _conditions(status: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


# --- which rivals, and when one still runs ----------------------------------------------------------------------
def test_rivals_are_the_other_claimants_of_the_repository_oldest_first() -> None:
    me, newer, older, elsewhere = _claim("me", OLD), _claim("b"), _claim("a", OLD), _claim("c", repo="127.0.0.1/x")
    assert handover.rivals_on_repository(me.key, REPO, [newer, me, elsewhere, older]) == [older, newer]


def test_a_claim_listed_twice_is_checked_once_and_no_repository_means_no_rival() -> None:
    me, other = _claim("me", OLD), _claim("b")
    assert handover.rivals_on_repository(me.key, REPO, [other, other]) == [other]
    assert handover.rivals_on_repository(me.key, "", [other]) == []


@pytest.mark.parametrize(
    ("replicas", "pods", "runs"),
    [
        (1, [], True),  # the Deployment still asks for a replica, even with no pod yet
        (0, [_pod("Running")], True),
        (0, [_pod("Pending")], True),  # created by the ReplicaSet, not started (yet)
        (0, [_pod("Running", deleting=True)], True),  # terminating: its final backup may still push
        (0, [_pod("Succeeded"), _pod("Failed")], False),  # finished backup Job pods kept for their result
        (0, [], False),
    ],
    ids=["deployment-at-1", "running-pod", "pending-pod", "terminating-pod", "finished-pods", "stopped"],
)
def test_a_rival_still_runs_while_its_deployment_asks_for_a_replica_or_a_pod_is_unfinished(
    replicas: int, pods: list[dict[str, Any]], runs: bool
) -> None:
    assert handover.still_runs(replicas, pods) is runs


def test_active_pods_keep_only_unfinished_ones() -> None:
    terminating, done = _pod("Running", deleting=True), _pod("Succeeded")
    assert handover.active_pods([terminating, done]) == [terminating]


def test_departed_robots_are_remembered_by_repository_until_forgotten() -> None:
    departed = handover.Departed()
    gone, other_repo = _claim("gone", OLD), _claim("x", repo="127.0.0.1/else")
    departed.remember(gone)
    departed.remember(gone)
    departed.remember(other_repo)
    assert departed.on(REPO) == [gone]
    assert departed.repositories_of(gone.key) == [REPO]
    departed.forget(gone)
    assert departed.on(REPO) == []
    assert departed.repositories_of(gone.key) == []
    assert departed.on("127.0.0.1/else") == [other_repo]
    assert departed.claims == {"127.0.0.1/else": {other_repo.key: other_repo}}


# --- the events that wake a waiting winner ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("event_type", "replicas", "wakes"),
    [
        ("MODIFIED", 0, True),
        ("ADDED", 0, True),
        ("DELETED", 1, True),
        ("MODIFIED", 1, False),
        ("MODIFIED", None, False),
    ],
)
def test_a_deployment_releases_the_repository_at_zero_or_when_gone(
    event_type: str, replicas: int | None, wakes: bool
) -> None:
    spec = {} if replicas is None else {"replicas": replicas}
    assert handover.deployment_released(event_type, {"kind": "Deployment", "spec": spec}) is wakes


@pytest.mark.parametrize(
    ("event_type", "pod", "wakes"),
    [
        ("DELETED", _pod("Running"), True),
        ("MODIFIED", _pod("Succeeded"), True),
        ("MODIFIED", _pod("Failed"), True),
        ("MODIFIED", _pod("Running", deleting=True), False),  # still terminating: not yet
        ("ADDED", _pod("Pending"), False),
    ],
    ids=["deleted", "succeeded", "failed", "terminating", "added"],
)
def test_a_pod_releases_the_repository_when_finished_or_gone(event_type: str, pod: dict[str, Any], wakes: bool) -> None:
    assert handover.pod_released(event_type, pod) is wakes


# --- the waiting winner's status ----------------------------------------------------------------------------------
WAITING = Facts(
    waiting_for="newer/floyd",
    deployment_present=True,
    desired_replicas=0,
    cronjob_present=True,
    env_secret_name="floyd-dotenv",
    repository="ssh://git@127.0.0.1:2222/shared/floyd",
    env_checksum="abc",
)


@pytest.mark.parametrize("previous_phase", ["", names.PHASE_INVALID, names.PHASE_RUNNING, names.PHASE_CONFLICT])
def test_a_waiting_winner_is_pending_and_names_the_rival(previous_phase: str) -> None:
    status = build_status(WAITING, {"phase": previous_phase} if previous_phase else {}, 1, T0)
    assert status["phase"] == names.PHASE_PENDING
    conditions = _conditions(status)
    for kind in (names.CONDITION_READY, names.CONDITION_DEPLOYMENT_AVAILABLE):
        assert conditions[kind]["status"] == "False"
        assert conditions[kind]["reason"] == handover.WAITING_REASON
        assert "newer/floyd" in conditions[kind]["message"]
    assert conditions[names.CONDITION_CONFLICT]["status"] == "False"
    assert status["repository"] == WAITING.repository


def test_conflict_and_suspend_outrank_waiting() -> None:
    assert build_status(replace(WAITING, conflict_with="old/floyd"), {}, 1, T0)["phase"] == "Conflict"
    assert build_status(replace(WAITING, suspended=True), {}, 1, T0)["phase"] == "Suspended"


def test_a_waiting_winner_asks_for_no_replica_and_reports_no_available_pod() -> None:
    robot = Robot.from_resource(
        {"metadata": {"name": "floyd", "namespace": "old", "uid": "u"}, "spec": {"envFrom": {"secretName": "s"}}}
    )
    deployment = {"spec": {"replicas": 1}, "status": {"availableReplicas": 1}}
    facts = facts_from(robot, waiting_for="newer/floyd", deployment=deployment)
    assert facts.desired_replicas == 0
    assert not facts.available
    assert facts_from(robot, deployment=deployment).desired_replicas == 1


def test_the_waiting_message_names_robots_only() -> None:
    message = handover.waiting_message("newer/floyd")
    assert "newer/floyd" in message
    status = build_status(WAITING, {}, 1, T0)
    assert str(WAITING.repository) not in json.dumps(_conditions(status))
    assert "ssh://" not in _conditions(status)[names.CONDITION_READY]["message"]


# --- the index entry is the status claim ------------------------------------------------------------------------
def _robot_body(status: dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"metadata": {"namespace": "bots", "name": "floyd", "creationTimestamp": OLD}}
    if status is not None:
        body["status"] = status
    return body


@pytest.mark.parametrize(
    "status",
    [
        None,
        {"phase": names.PHASE_PENDING},
        {"phase": names.PHASE_INVALID, "repository": "ssh://git@127.0.0.1:2222/shared/floyd"},
        {"phase": names.PHASE_RUNNING, "repository": "ssh://git@127.0.0.1:2222/shared/floyd.git"},
        {"phase": names.PHASE_PENDING, "repository": "ssh://git@127.0.0.1:2222/shared/floyd"},
        {"phase": names.PHASE_CONFLICT, "repository": "not a url"},
    ],
    ids=["no-status", "no-repository", "invalid", "running", "pending-waiting", "unparseable"],
)
def test_repository_entry_is_the_status_claim_keyed_by_repository(status: dict[str, Any] | None) -> None:
    body = _robot_body(status)
    claim = peers.status_claim(body)
    assert handlers.repository_entry(body) == ({claim.repository_key: claim} if claim else {})


def test_a_waiting_winner_is_in_the_index_so_its_rival_sees_it() -> None:
    entry = handlers.repository_entry(_robot_body({"phase": names.PHASE_PENDING, "repository": WAITING.repository}))
    assert [(c.key, c.created) for c in entry.values()] == [(("bots", "floyd"), OLD)]
    assert handlers.repository_entry(_robot_body({"phase": names.PHASE_INVALID, "repository": "x"})) == {}
