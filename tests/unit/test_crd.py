"""The Robot CRD: structural, described field by field, with defaults, CEL rules and printer columns."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from robot_operator import names

CRD_PATH = Path(__file__).resolve().parents[2] / "crds" / "robots.yaml"


@pytest.fixture(scope="module")
def crd() -> dict[str, Any]:
    data = yaml.safe_load(CRD_PATH.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def version(crd: dict[str, Any]) -> dict[str, Any]:
    versions = crd["spec"]["versions"]
    assert len(versions) == 1
    result: dict[str, Any] = versions[0]
    return result


@pytest.fixture(scope="module")
def root(version: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return result


def walk(schema: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node below `schema` with its dotted path (properties, additionalProperties, items)."""
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}")
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        yield from walk(additional, f"{path}.*")
    if isinstance(schema.get("items"), dict):
        yield from walk(schema["items"], f"{path}[]")


def test_identity_matches_the_operator_names(crd: dict[str, Any], version: dict[str, Any]) -> None:
    assert crd["metadata"]["name"] == f"{names.PLURAL}.{names.GROUP}"
    spec = crd["spec"]
    assert spec["group"] == names.GROUP
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == names.KIND
    assert spec["names"]["plural"] == names.PLURAL
    assert spec["names"]["singular"] == names.SINGULAR
    assert spec["names"]["shortNames"] == [names.SHORT_NAME]
    assert version["name"] == names.VERSION
    assert version["served"] is True
    assert version["storage"] is True
    assert version["subresources"] == {"status": {}}


def test_every_field_has_a_description(root: dict[str, Any]) -> None:
    missing = [
        path
        for path, node in walk(root, "robot")
        if path != "robot.metadata" and not path.endswith(".*") and not node.get("description")
    ]
    assert missing == []


def test_schema_is_structural_every_node_has_a_type(root: dict[str, Any]) -> None:
    untyped = [
        path for path, node in walk(root, "robot") if "type" not in node and not node.get("x-kubernetes-int-or-string")
    ]
    assert untyped == []


def test_env_source_is_required_and_defaults_are_set(root: dict[str, Any]) -> None:
    spec = root["properties"]["spec"]
    assert spec["required"] == ["envFrom"]
    env_from = spec["properties"]["envFrom"]
    assert env_from["required"] == ["secretName"]
    assert env_from["properties"]["key"]["default"] == names.DEFAULT_ENV_KEY
    backup = spec["properties"]["backup"]
    assert backup["default"] == {}
    assert backup["properties"]["schedule"]["default"] == names.DEFAULT_BACKUP_SCHEDULE
    assert backup["properties"]["timeoutSeconds"]["default"] == names.DEFAULT_BACKUP_TIMEOUT_SECONDS
    assert backup["properties"]["historyLimit"]["default"] == names.DEFAULT_BACKUP_HISTORY_LIMIT
    assert spec["properties"]["suspend"]["default"] is False


def test_printer_columns(version: dict[str, Any]) -> None:
    columns = {column["name"]: column["jsonPath"] for column in version["additionalPrinterColumns"]}
    assert list(columns) == ["Protocol", "Repository", "Phase", "Ready", "Last Backup", "Age"]
    assert columns["Ready"] == '.status.conditions[?(@.type=="Ready")].status'
    assert columns["Phase"] == ".status.phase"


def test_status_phases_and_conditions_match_the_operator(root: dict[str, Any]) -> None:
    status = root["properties"]["status"]["properties"]
    assert tuple(status["phase"]["enum"]) == names.PHASES
    conditions = status["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert set(conditions["items"]["properties"]) >= {"type", "status", "reason", "message", "observedGeneration"}
    assert status["lastBackup"]["properties"]["result"]["enum"] == ["Pushed", "NoChanges", "Failed"]


def cel_rules(root: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    return {
        path: node["x-kubernetes-validations"]
        for path, node in walk(root, "robot")
        if "x-kubernetes-validations" in node
    }


def test_cel_rules_have_messages_naming_their_field(root: dict[str, Any]) -> None:
    rules = cel_rules(root)
    assert set(rules) >= {"robot", "robot.spec.env", "robot.spec.image", "robot.spec.backup.schedule"}
    for path, validations in rules.items():
        field = path.removeprefix("robot.")
        for validation in validations:
            assert validation["rule"].count("(") == validation["rule"].count(")"), validation["rule"]
            assert validation["message"].startswith(field if path != "robot" else "metadata.name"), validation


def regex_of(rule: str) -> re.Pattern[str]:
    """The first regex literal of a CEL `matches('...')` call, unescaped the way CEL reads the string."""
    match = re.search(r"matches\('((?:[^'\\]|\\.)*)'\)", rule)
    assert match is not None, rule
    return re.compile(match.group(1).encode().decode("unicode_escape"))


def rule_at(root: dict[str, Any], path: str, index: int = 0) -> str:
    rule: str = cel_rules(root)[path][index]["rule"]
    return rule


@pytest.mark.parametrize(
    ("schedule", "ok"),
    [
        ("0 * * * *", True),
        ("*/15 2-4 1,15 JAN-MAR mon", True),
        (" 5 4 * * 0 ", True),
        ("0 * * *", False),
        ("0 * * * * *", False),
        ("@hourly", False),
        ("0 * * * $", False),
    ],
)
def test_schedule_rule_accepts_5_fields_only(root: dict[str, Any], schedule: str, ok: bool) -> None:
    assert (regex_of(rule_at(root, "robot.spec.backup.schedule")).fullmatch(schedule) is not None) is ok


@pytest.mark.parametrize(
    ("image", "ok"),
    [
        ("localhost/gopherbot-robot:0.1.0", True),
        ("registry.example:5000/team/robot", True),
        ("robot@sha256:" + "a" * 64, True),
        ("Robot:latest", False),
        ("robot:", False),
        ("a b", False),
        ("robot@sha256:abc", False),
    ],
)
def test_image_rule(root: dict[str, Any], image: str, ok: bool) -> None:
    assert (regex_of(rule_at(root, "robot.spec.image")).fullmatch(image) is not None) is ok


@pytest.mark.parametrize(("name", "ok"), [("GOPHER_LOGLEVEL", True), ("_x1", True), ("1X", False), ("A-B", False)])
def test_env_name_rule(root: dict[str, Any], name: str, ok: bool) -> None:
    assert (regex_of(rule_at(root, "robot.spec.env")).fullmatch(name) is not None) is ok


def test_env_may_not_carry_secrets(root: dict[str, Any]) -> None:
    rule = rule_at(root, "robot.spec.env", 1)
    for secret in (names.GOPHER_ENCRYPTION_KEY, names.GOPHER_DEPLOY_KEY, names.ROBOT_CONTROL_TOKEN):
        assert f"!('{secret}' in self)" in rule


def test_robot_name_rule_matches_the_model(root: dict[str, Any]) -> None:
    pattern = regex_of(rule_at(root, "robot"))
    assert "size(self.metadata.name) <= 63" in rule_at(root, "robot")
    for name in ("floyd", "a-1", "Floyd", "1a", "a-", "a_b"):
        assert (pattern.fullmatch(name) is not None) is names.is_valid_robot_name(name)
