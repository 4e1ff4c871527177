"""The env Secret builder."""

from __future__ import annotations

import base64

from robot_operator.children.secret import build_env_secret, env_secret_checksum

from .robots import child_labels, owner_refs, robot


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_env_secret_holds_every_variable_and_the_token() -> None:
    secret = build_env_secret(robot(), {"B": "two", "A": "ünï\ncode"}, "tok-123")
    assert secret == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "floyd-env",
            "namespace": "bots",
            "labels": child_labels("env"),
            "ownerReferences": owner_refs(),
            "annotations": {"gopherbot.io/env-secret": "floyd-dotenv"},
        },
        "type": "Opaque",
        "data": {"A": _b64("ünï\ncode"), "B": _b64("two"), "ROBOT_CONTROL_TOKEN": _b64("tok-123")},
    }


def test_the_generated_token_wins_over_a_variable() -> None:
    secret = build_env_secret(robot(), {"ROBOT_CONTROL_TOKEN": "from-dotenv"}, "generated")
    assert secret["data"] == {"ROBOT_CONTROL_TOKEN": _b64("generated")}


def test_builder_is_pure() -> None:
    assert build_env_secret(robot(), {"A": "1"}, "t") == build_env_secret(robot(), {"A": "1"}, "t")


def test_checksum_changes_with_the_token_and_the_variables() -> None:
    base = env_secret_checksum(build_env_secret(robot(), {"A": "1"}, "t1"))
    assert base == env_secret_checksum(build_env_secret(robot(), {"A": "1"}, "t1"))
    assert base != env_secret_checksum(build_env_secret(robot(), {"A": "1"}, "t2"))
    assert base != env_secret_checksum(build_env_secret(robot(), {"A": "2"}, "t1"))
    assert len(base) == 64
