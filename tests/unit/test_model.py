"""The Robot model: defaults, every spec field, and one-line errors naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from robot_operator import names
from robot_operator.model import BackupSpec, ModelError, Robot


def _body(spec: dict[str, Any] | None = None, **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "gopherbot.io/v1alpha1",
        "kind": "Robot",
        "metadata": {"name": "floyd", "namespace": "bots", **metadata},
        "spec": {"envFrom": {"secretName": "floyd-dotenv"}, **(spec or {})},
    }


def test_defaults() -> None:
    robot = Robot.from_resource(_body())
    assert robot == Robot(name="floyd", namespace="bots", uid="", env_secret_name="floyd-dotenv")
    assert robot.env_secret_key == ".env"
    assert robot.image == names.DEFAULT_ROBOT_IMAGE == "localhost/gopherbot-robot:0.1.0"
    assert robot.backup == BackupSpec(schedule="0 * * * *", suspend=False, timeout_seconds=600, history_limit=3)
    assert robot.protocol is None
    assert robot.key == ("bots", "floyd")
    assert not robot.backup_suspended


def test_every_field() -> None:
    spec = {
        "envFrom": {"secretName": "s", "key": "robot.env"},
        "env": {"GOPHER_LOGLEVEL": "debug"},
        "protocol": "slack",
        "image": "registry.example/robot:2",
        "imagePullPolicy": "Always",
        "resources": {"limits": {"memory": "1Gi"}},
        "nodeSelector": {"pool": "bots"},
        "tolerations": [{"key": "k", "operator": "Exists"}],
        "affinity": {"nodeAffinity": {}},
        "podAnnotations": {"a": "1"},
        "podLabels": {"l": "2"},
        "suspend": True,
        "knownHosts": ["github.com ssh-ed25519 AAAA", "", "gitlab.com ssh-rsa BBBB "],
        "backup": {"schedule": "*/5 * * * *", "suspend": True, "timeoutSeconds": 30, "historyLimit": 1},
    }
    body = _body(spec, uid="u-1", generation=7, creationTimestamp="2026-01-01T00:00:00Z")
    robot = Robot.from_resource(body)
    assert robot == Robot(
        name="floyd",
        namespace="bots",
        uid="u-1",
        env_secret_name="s",
        generation=7,
        creation_timestamp="2026-01-01T00:00:00Z",
        env_secret_key="robot.env",
        env={"GOPHER_LOGLEVEL": "debug"},
        protocol="slack",
        image="registry.example/robot:2",
        image_pull_policy="Always",
        resources={"limits": {"memory": "1Gi"}},
        node_selector={"pool": "bots"},
        tolerations=[{"key": "k", "operator": "Exists"}],
        affinity={"nodeAffinity": {}},
        pod_annotations={"a": "1"},
        pod_labels={"l": "2"},
        suspend=True,
        known_hosts="github.com ssh-ed25519 AAAA\ngitlab.com ssh-rsa BBBB",
        backup=BackupSpec(schedule="*/5 * * * *", suspend=True, timeout_seconds=30, history_limit=1),
    )
    assert robot.backup_suspended


def test_known_hosts_as_one_string() -> None:
    robot = Robot.from_resource(_body({"knownHosts": "a ssh-ed25519 K\n\nb ssh-rsa L\n"}))
    assert robot.known_hosts == "a ssh-ed25519 K\nb ssh-rsa L"


def test_parsing_copies_the_body() -> None:
    body = _body({"env": {"A": "1"}})
    robot = Robot.from_resource(body)
    body["spec"]["env"]["A"] = "2"
    assert robot.env == {"A": "1"}


@pytest.mark.parametrize(
    ("spec", "metadata", "message"),
    [
        ({"envFrom": {}}, {}, "spec.envFrom.secretName: is required"),
        ({"envFrom": {"secretName": 3}}, {}, "spec.envFrom.secretName: must be a string"),
        ({"envFrom": "x"}, {}, "spec.envFrom: must be an object"),
        ({"env": {"A": 1}}, {}, "spec.env.A: must be a string"),
        ({"env": ["A"]}, {}, "spec.env: must be an object"),
        ({"suspend": "yes"}, {}, "spec.suspend: must be a boolean"),
        ({"tolerations": {"a": 1}}, {}, "spec.tolerations: must be a list"),
        ({"tolerations": ["x"]}, {}, "spec.tolerations[0]: must be an object"),
        ({"knownHosts": 5}, {}, "spec.knownHosts: must be a string or a list of strings"),
        ({"knownHosts": ["ok", 5]}, {}, "spec.knownHosts[1]: must be a string"),
        ({"backup": {"schedule": "hourly"}}, {}, "spec.backup.schedule: must be a cron schedule of 5 fields"),
        ({"backup": {"timeoutSeconds": 0}}, {}, "spec.backup.timeoutSeconds: must be at least 1"),
        ({"backup": {"timeoutSeconds": True}}, {}, "spec.backup.timeoutSeconds: must be an integer"),
        ({"backup": {"historyLimit": -1}}, {}, "spec.backup.historyLimit: must not be negative"),
        ({}, {"name": "Floyd"}, "metadata.name: must be a DNS-1035 label"),
        ({}, {"name": "9floyd"}, "metadata.name: must be a DNS-1035 label"),
        ({}, {"name": "f" * 64}, "metadata.name: must be a DNS-1035 label"),
        ({}, {"namespace": None}, "metadata.namespace: is required"),
        ({}, {"generation": "1"}, "metadata.generation: must be an integer"),
    ],
)
def test_wrong_fields_are_named(spec: dict[str, Any], metadata: dict[str, Any], message: str) -> None:
    body = _body(spec, **metadata)
    with pytest.raises(ModelError) as caught:
        Robot.from_resource(body)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_missing_spec_is_named() -> None:
    with pytest.raises(ModelError, match=r"^spec\.envFrom\.secretName: is required$"):
        Robot.from_resource({"metadata": {"name": "floyd", "namespace": "bots"}})
