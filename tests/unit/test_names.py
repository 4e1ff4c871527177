"""Child names and their Kubernetes length limits."""

from __future__ import annotations

import pytest

from robot_operator import names


def test_child_names() -> None:
    assert names.env_secret_name("floyd") == "floyd-env"
    assert names.deployment_name("floyd") == "floyd"
    assert names.service_name("floyd") == "floyd"
    assert names.service_account_name("floyd") == "floyd"
    assert names.role_name("floyd") == "floyd-lease"
    assert names.role_binding_name("floyd") == "floyd-lease"
    assert names.lease_name("floyd") == "floyd"
    assert names.cronjob_name("floyd") == "floyd-backup"
    assert names.control_url("floyd", "bots") == "http://floyd.bots.svc:8080"


@pytest.mark.parametrize("length", [1, 45, 46, 52, 63])
def test_cronjob_names_fit_52_characters(length: int) -> None:
    robot = "r" * length
    name = names.cronjob_name(robot)
    assert len(name) <= names.MAX_CRONJOB_NAME
    assert name.endswith("-backup")
    assert names.is_valid_robot_name(name)
    if length <= 45:
        assert name == f"{robot}-backup"


def test_long_names_sharing_a_prefix_stay_distinct_and_stable() -> None:
    first, second = "a" * 60 + "-x", "a" * 60 + "-y"
    assert names.cronjob_name(first) != names.cronjob_name(second)
    assert names.cronjob_name(first) == names.cronjob_name(first)


def test_fit_name_does_not_end_the_prefix_with_a_dash() -> None:
    robot = "a" * 35 + "-" + "b" * 20
    name = names.cronjob_name(robot)
    assert len(name) <= 52
    assert name.startswith("a" * 35 + "-")
    assert "--" not in name
    assert names.is_valid_robot_name(name)


def test_fit_name_refuses_a_limit_without_room() -> None:
    with pytest.raises(ValueError, match="no room"):
        names.fit_name("a" * 20, "-backup", 12)


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("floyd", True),
        ("a", True),
        ("a-1", True),
        ("1a", False),
        ("a-", False),
        ("A", False),
        ("a" * 63, True),
        ("a" * 64, False),
    ],
)
def test_robot_name_rule(name: str, valid: bool) -> None:
    assert names.is_valid_robot_name(name) is valid
