"""The one-robot-per-repository rule: the older Robot wins, ties broken by namespace then name."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from robot_operator.conflict import RepoClaim, conflict_message, find_conflict, rival
from robot_operator.envcheck import repository_key

REPO = "github.com/acme/floyd"


def _claim(namespace: str, name: str, created: str, repo: str = REPO) -> RepoClaim:
    return RepoClaim(namespace=namespace, name=name, created=created, repository_key=repo)


def test_newer_robot_loses_to_older() -> None:
    older = _claim("a", "floyd", "2026-01-01T00:00:00Z")
    assert find_conflict(("b", "floyd"), "2026-01-02T00:00:00Z", REPO, [older]) == older


def test_older_robot_keeps_running() -> None:
    newer = _claim("b", "floyd", "2026-01-02T00:00:00Z")
    assert find_conflict(("a", "floyd"), "2026-01-01T00:00:00Z", REPO, [newer]) is None


def test_other_repositories_do_not_conflict() -> None:
    other = _claim("a", "bishop", "2020-01-01T00:00:00Z", "github.com/acme/bishop")
    assert find_conflict(("b", "floyd"), "2026-01-02T00:00:00Z", REPO, [other]) is None


def test_itself_in_the_list_is_ignored() -> None:
    me = _claim("a", "floyd", "2026-01-01T00:00:00Z")
    assert find_conflict(("a", "floyd"), "2026-01-01T00:00:00Z", REPO, [me]) is None


def test_same_second_ties_break_by_namespace_then_name() -> None:
    same = "2026-01-01T00:00:00Z"
    first = _claim("a", "zed", same)
    second = _claim("b", "alpha", same)
    assert find_conflict(second.key, same, REPO, [first]) == first
    assert find_conflict(first.key, same, REPO, [second]) is None
    third = _claim("a", "alpha", same)
    assert find_conflict(first.key, same, REPO, [third]) == third


def test_the_oldest_of_several_is_named() -> None:
    claims = [
        _claim("c", "floyd", "2026-03-01T00:00:00Z"),
        _claim("a", "floyd", "2026-01-01T00:00:00Z"),
        _claim("b", "floyd", "2026-02-01T00:00:00Z"),
    ]
    assert find_conflict(("d", "floyd"), "2026-04-01T00:00:00Z", REPO, claims) == claims[1]


def test_timestamps_compare_as_times_not_strings() -> None:
    older = _claim("z", "floyd", "2026-01-01T10:00:00+02:00")  # 08:00Z
    assert find_conflict(("a", "floyd"), "2026-01-01T09:00:00Z", REPO, [older]) == older


def test_missing_timestamp_counts_as_newest() -> None:
    dated = _claim("z", "floyd", "2026-01-01T00:00:00Z")
    assert find_conflict(("a", "floyd"), "", REPO, [dated]) == dated
    assert find_conflict(("z", "floyd"), "2026-01-01T00:00:00Z", REPO, [_claim("a", "floyd", "")]) is None


def test_empty_repository_key_never_conflicts() -> None:
    blank = _claim("a", "floyd", "2020-01-01T00:00:00Z", "")
    assert find_conflict(("b", "floyd"), "2026-01-01T00:00:00Z", "", [blank]) is None


@pytest.mark.parametrize(
    "other_url", ["ssh://git@github.com/acme/floyd", "https://github.com/Acme/floyd.git", "git@github.com:acme/floyd"]
)
def test_differently_written_urls_conflict(other_url: str) -> None:
    other = _claim("a", "floyd", "2026-01-01T00:00:00Z", repository_key(other_url))
    mine = repository_key("https://tok@github.com/acme/floyd.git/")
    assert find_conflict(("b", "floyd"), "2026-01-02T00:00:00Z", mine, [other]) == other


def test_conflict_message_names_the_other_robot() -> None:
    message = conflict_message(_claim("a", "floyd", "2026-01-01T00:00:00Z"))
    assert "Robot a/floyd" in message


_CLAIMS = st.lists(
    st.builds(
        RepoClaim,
        namespace=st.sampled_from(["a", "b", "c"]),
        name=st.sampled_from(["x", "y"]),
        created=st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", ""]),
        repository_key=st.just(REPO),
    ),
    max_size=8,
    unique_by=lambda claim: claim.key,
)


@given(_CLAIMS)
def test_exactly_one_robot_per_repository_runs(claims: list[RepoClaim]) -> None:
    running = [c for c in claims if find_conflict(c.key, c.created, c.repository_key, claims) is None]
    assert len(running) == (1 if claims else 0)


def test_rival_takes_peer_tuples_and_names_the_winner() -> None:
    peers = [("b", "floyd", "2026-02-01T00:00:00Z"), ("a", "floyd", "2026-01-01T00:00:00Z")]
    assert rival(("c", "floyd"), "2026-03-01T00:00:00Z", REPO, peers) == "a/floyd"
    assert rival(("a", "floyd"), "2026-01-01T00:00:00Z", REPO, peers) is None
