"""Pure Lease logic: expiry maths, MicroTime text, identities and the request bodies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from robot_runtime.lease import (
    LeaseKeeper,
    LeaseRecord,
    format_micro_time,
    is_free,
    lease_path,
    new_identity,
    new_lease_body,
    parse_lease,
    parse_micro_time,
    release_body,
    renew_body,
    takeover_body,
)

NOW = datetime(2026, 12, 3, 16, 30, 0, 123456, tzinfo=UTC)


def record(holder: str | None = "pod-a-1234", renewed: datetime | None = NOW, duration: int | None = 15) -> LeaseRecord:
    return LeaseRecord(
        holder=holder, renew_time=renewed, duration_seconds=duration, transitions=0, resource_version="7"
    )


def test_lease_renewed_within_its_duration_is_held() -> None:
    assert not is_free(record(renewed=NOW - timedelta(seconds=14)), NOW)


def test_lease_is_held_at_exactly_renew_plus_duration() -> None:
    assert not is_free(record(renewed=NOW - timedelta(seconds=15)), NOW)


def test_lease_expired_after_renew_plus_duration() -> None:
    assert is_free(record(renewed=NOW - timedelta(seconds=15, microseconds=1)), NOW)


@pytest.mark.parametrize("incomplete", [record(holder=None), record(renewed=None), record(duration=None)])
def test_lease_without_holder_renew_time_or_duration_is_free(incomplete: LeaseRecord) -> None:
    assert is_free(incomplete, NOW)


@given(st.integers(min_value=1, max_value=3600), st.integers(min_value=-7200, max_value=7200))
def test_free_exactly_when_renew_plus_duration_is_past(duration: int, age: int) -> None:
    state = record(renewed=NOW - timedelta(seconds=age), duration=duration)
    assert is_free(state, NOW) is (age > duration)


def test_micro_time_format_is_what_the_api_server_expects() -> None:
    assert format_micro_time(NOW) == "2026-12-03T16:30:00.123456Z"
    assert format_micro_time(NOW.astimezone(timezone(timedelta(hours=2)))) == "2026-12-03T16:30:00.123456Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-03T16:30:00.123456Z", NOW),
        ("2026-12-03T18:30:00.123456+02:00", NOW),
        ("2026-12-03T16:30:00Z", NOW.replace(microsecond=0)),
        ("2026-12-03T16:30:00.123456", NOW),
    ],
)
def test_parse_micro_time(text: str, expected: datetime) -> None:
    assert parse_micro_time(text) == expected


@pytest.mark.parametrize("value", [None, "", "yesterday", 12])
def test_unreadable_times_are_none(value: object) -> None:
    assert parse_micro_time(value) is None


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_micro_time_round_trips(moment: datetime) -> None:
    assert parse_micro_time(format_micro_time(moment)) == moment


def test_identity_is_the_pod_name_plus_a_random_suffix() -> None:
    first, second = new_identity("floyd-7d9f-abcde"), new_identity("floyd-7d9f-abcde")
    assert first.startswith("floyd-7d9f-abcde-")
    assert len(first) == len("floyd-7d9f-abcde-") + 8
    assert first != second
    assert new_identity("").startswith("robot-")


def test_lease_paths() -> None:
    assert lease_path("bots") == "/apis/coordination.k8s.io/v1/namespaces/bots/leases"
    assert lease_path("bots", "floyd") == "/apis/coordination.k8s.io/v1/namespaces/bots/leases/floyd"


def test_new_lease_body() -> None:
    body = new_lease_body("floyd", "bots", "pod-a-1", 15, NOW)
    assert body == {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "floyd", "namespace": "bots"},
        "spec": {
            "holderIdentity": "pod-a-1",
            "leaseDurationSeconds": 15,
            "acquireTime": "2026-12-03T16:30:00.123456Z",
            "renewTime": "2026-12-03T16:30:00.123456Z",
            "leaseTransitions": 0,
        },
    }
    assert parse_lease(body) == LeaseRecord("pod-a-1", NOW, 15, 0, None)


def live_lease(holder: str | None, transitions: int = 2) -> dict[str, object]:
    spec: dict[str, object] = {"leaseDurationSeconds": 15, "leaseTransitions": transitions}
    if holder:
        spec |= {"holderIdentity": holder, "renewTime": "2026-12-03T16:00:00.000000Z"}
    return {"metadata": {"name": "floyd", "namespace": "bots", "resourceVersion": "42", "uid": "u-1"}, "spec": spec}


def test_takeover_keeps_resource_version_and_counts_a_transition() -> None:
    body = takeover_body(live_lease("pod-a-1"), "pod-b-2", 20, NOW)
    assert body["metadata"]["resourceVersion"] == "42"
    assert body["spec"] == {
        "holderIdentity": "pod-b-2",
        "leaseDurationSeconds": 20,
        "acquireTime": "2026-12-03T16:30:00.123456Z",
        "renewTime": "2026-12-03T16:30:00.123456Z",
        "leaseTransitions": 3,
    }


def test_taking_back_our_own_lease_is_no_transition() -> None:
    assert takeover_body(live_lease("pod-b-2"), "pod-b-2", 20, NOW)["spec"]["leaseTransitions"] == 2


def test_renew_moves_only_the_renew_time() -> None:
    current = live_lease("pod-a-1")
    body = renew_body(current, NOW)
    assert body["metadata"]["resourceVersion"] == "42"
    assert body["spec"] == {**current["spec"], "renewTime": "2026-12-03T16:30:00.123456Z"}  # type: ignore[dict-item]


def test_release_clears_the_holder_so_the_lease_is_free_at_once() -> None:
    body = release_body(live_lease("pod-a-1"))
    assert "holderIdentity" not in body["spec"]
    assert body["metadata"]["resourceVersion"] == "42"
    assert is_free(parse_lease(body), NOW)


def test_parse_lease_reads_a_live_object() -> None:
    parsed = parse_lease(live_lease("pod-a-1", transitions=5))
    assert parsed == LeaseRecord("pod-a-1", datetime(2026, 12, 3, 16, 0, tzinfo=UTC), 15, 5, "42")


def test_keeper_timing_fences_before_others_may_take_over() -> None:
    keeper = LeaseKeeper(api=None, namespace="bots", name="floyd", identity="me", duration=15)  # type: ignore[arg-type]
    assert keeper.renew_interval == 5
    assert keeper.fence_after == 10
    assert keeper.fence_after < keeper.duration
    assert keeper.request_timeout <= keeper.renew_interval
