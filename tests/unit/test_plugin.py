"""`kubectl-robot`: argument handling and the objects and text it makes, without a cluster (no value is printed)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from robot_operator import names, plugin
from robot_operator.children import cronjob
from tests.unit.children.robots import robot

SECRET_MARK = "VALUE-THAT-MUST-NOT-PRINT"


def one_line_deploy_key() -> str:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    return pem.decode().strip().replace(" ", "_").replace("\n", ":")


def dotenv(**overrides: str | None) -> bytes:
    values: dict[str, str | None] = {
        "GOPHER_CUSTOM_REPOSITORY": "https://bot:tok3n@git.example.org/acme/floyd.git",
        "GOPHER_DEPLOY_KEY": one_line_deploy_key(),
        "GOPHER_ENCRYPTION_KEY": SECRET_MARK + "x" * 32,
        "GOPHER_PROTOCOL": "slack",
        **overrides,
    }
    return "".join(f"{key}={value}\n" for key, value in values.items() if value is not None).encode()


def parse(*argv: str) -> Any:
    return plugin.build_parser().parse_args(list(argv))


def test_create_arguments() -> None:
    args = parse("-n", "bots", "create", "floyd", "--env-file", "floyd.env", "--protocol", "rocket")
    assert (args.command, args.name, str(args.env_file), args.protocol, args.namespace) == (
        "create",
        "floyd",
        "floyd.env",
        "rocket",
        "bots",
    )
    assert args.secret_name is None


def test_create_needs_an_env_file(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        parse("create", "floyd")
    assert raised.value.code == 2
    assert "--env-file" in capsys.readouterr().err


def test_backup_arguments_and_timeout_validation(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse("backup", "floyd", "--wait", "--timeout", "30")
    assert (args.name, args.wait, args.timeout) == ("floyd", True, 30.0)
    assert parse("backup", "floyd").timeout == 600.0
    with pytest.raises(SystemExit):
        parse("backup", "floyd", "--timeout", "0")
    assert "must be more than 0 seconds" in capsys.readouterr().err


def test_list_and_status_arguments() -> None:
    assert parse("list", "-A").all_namespaces is True
    assert parse("status", "floyd").name == "floyd"


def test_dotenv_secret_holds_the_file_under_the_env_key() -> None:
    content = dotenv()
    body = plugin.dotenv_secret("floyd-dotenv", "bots", content)
    assert body["metadata"] == {
        "name": "floyd-dotenv",
        "namespace": "bots",
        "labels": {names.LABEL_PART_OF: "gopherbot"},
    }
    assert base64.b64decode(body["data"][".env"]) == content


def test_robot_body_sets_only_what_was_given() -> None:
    body = plugin.robot_body("floyd", "bots", "floyd-dotenv", None, None)
    assert body["apiVersion"] == "gopherbot.io/v1alpha1"
    assert body["spec"] == {"envFrom": {"secretName": "floyd-dotenv", "key": ".env"}}
    with_protocol = plugin.robot_body("floyd", "bots", "s", "slack", "localhost/robot:1")
    assert with_protocol["spec"]["protocol"] == "slack"
    assert with_protocol["spec"]["image"] == "localhost/robot:1"


def test_a_good_env_file_resolves_with_the_repository_redacted() -> None:
    resolved = plugin.check_env_file(plugin.robot_body("floyd", "bots", "s", None, None), dotenv())
    assert resolved.repository == "https://git.example.org/acme/floyd.git"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"GOPHER_ENCRYPTION_KEY": SECRET_MARK}, "GOPHER_ENCRYPTION_KEY (line 3 of Secret s key .env) is shorter"),
        ({"GOPHER_DEPLOY_KEY": None}, "GOPHER_DEPLOY_KEY is missing or empty"),
        ({"GOPHER_PROTOCOL": None}, "GOPHER_PROTOCOL is not set"),
    ],
)
def test_a_bad_env_file_is_refused_by_line_or_variable_never_value(
    overrides: dict[str, str | None], expected: str
) -> None:
    with pytest.raises(plugin.PluginError) as raised:
        plugin.check_env_file(plugin.robot_body("floyd", "bots", "s", None, None), dotenv(**overrides))
    assert expected in str(raised.value)
    assert SECRET_MARK not in str(raised.value)
    assert "tok3n" not in str(raised.value)


def test_a_bad_robot_name_is_refused() -> None:
    with pytest.raises(plugin.PluginError, match=r"metadata\.name"):
        plugin.check_env_file(plugin.robot_body("Floyd_1", "bots", "s", None, None), dotenv())


def live_cronjob() -> dict[str, Any]:
    body = cronjob.build_backup_cronjob(robot())
    body["metadata"]["uid"] = "cron-uid"
    return body


def test_job_from_cronjob_is_what_kubectl_create_job_from_makes() -> None:
    source = live_cronjob()
    job = plugin.job_from_cronjob(source, "floyd-backup-m1")
    assert job["kind"] == "Job"
    assert job["metadata"]["name"] == "floyd-backup-m1"
    assert job["metadata"]["namespace"] == "bots"
    assert job["metadata"]["labels"] == source["spec"]["jobTemplate"]["metadata"]["labels"]
    assert job["metadata"]["labels"][names.LABEL_COMPONENT] == names.COMPONENT_BACKUP
    assert job["metadata"]["annotations"] == {"cronjob.kubernetes.io/instantiate": "manual"}
    assert job["metadata"]["ownerReferences"][0]["uid"] == "cron-uid"
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    assert job["spec"] == source["spec"]["jobTemplate"]["spec"]


def test_manual_job_names_fit_63_characters() -> None:
    assert plugin.manual_job_name("floyd-backup", 0x6543210F) == "floyd-backup-m6543210f"
    long_name = names.cronjob_name("r" * 63)
    assert len(plugin.manual_job_name(long_name, 0x6543210F)) <= 63


def robot_with_status() -> dict[str, Any]:
    return {
        "metadata": {"name": "floyd", "namespace": "bots"},
        "status": {
            "phase": "Running",
            "repository": "https://git.example.org/acme/floyd.git",
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "RobotAvailable", "message": "the pod is available"}
            ],
            "lastBackup": {"time": "2026-01-02T03:04:05Z", "result": "Pushed", "commit": "abc123", "message": "ok"},
            "lastSuccessfulBackupTime": "2026-01-02T03:04:05Z",
        },
    }


def test_status_text() -> None:
    pod = {
        "metadata": {"name": "floyd-7d9"},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"restartCount": 2}],
        },
    }
    text = plugin.render_status(robot_with_status(), [pod])
    assert "Phase:       Running" in text
    assert "Ready" in text
    assert "RobotAvailable" in text
    assert "Last backup: Pushed at 2026-01-02T03:04:05Z abc123 ok" in text
    assert "floyd-7d9  phase=Running  ready=True  restarts=2" in text
    assert plugin.render_status({"metadata": {"name": "x", "namespace": "y"}}, []).count("none") >= 2


def test_list_text_has_aligned_columns() -> None:
    text = plugin.render_list([robot_with_status()], all_namespaces=True)
    header, row = text.splitlines()
    assert header.split() == ["NAMESPACE", "NAME", "PHASE", "READY", "REPOSITORY", "LAST", "BACKUP"]
    assert row.split() == [
        "bots",
        "floyd",
        "Running",
        "True",
        "https://git.example.org/acme/floyd.git",
        "2026-01-02T03:04:05Z",
    ]
    assert header.index(" NAME ") + 1 == row.index("floyd")
    assert header.index("PHASE") == row.index("Running")


def test_unreadable_env_file_is_one_line(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "c",
                "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u", "namespace": "bots"}}],
                "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
            }
        )
    )
    code = plugin.main(["--kubeconfig", str(kubeconfig), "create", "floyd", "--env-file", str(tmp_path / "missing")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("kubectl-robot: --env-file ")
    assert err.count("\n") == 1


def test_namespace_comes_from_the_kubeconfig_context(tmp_path: Any) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "c",
                "contexts": [
                    {"name": "c", "context": {"cluster": "k", "user": "u", "namespace": "chat"}},
                    {"name": "d", "context": {"cluster": "k", "user": "u"}},
                ],
                "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
            }
        )
    )
    assert plugin.current_namespace(str(kubeconfig), None) == "chat"
    assert plugin.current_namespace(str(kubeconfig), "d") == "default"
    assert plugin.current_namespace(str(tmp_path / "none"), None) == "default"


def test_connection_flags_may_follow_the_command_as_with_kubectl() -> None:
    after = parse("backup", "waiter", "--wait", "-n", "bots", "--kubeconfig", "k", "--context", "c")
    assert (after.namespace, after.kubeconfig, after.context, after.wait) == ("bots", "k", "c", True)
    before = parse("-n", "chat", "status", "floyd")
    assert before.namespace == "chat"
    assert parse("list").namespace is None
