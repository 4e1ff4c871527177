"""The operator's kopf settings ask the API server to filter the child kinds by label (and leave Secrets unfiltered)."""

from __future__ import annotations

import kopf
from kopf._cogs.structs.references import Resource

from robot_operator import handlers, names


def configured_settings() -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    handlers.apply_watch_selectors(settings)
    return settings


def selectors_for(settings: kopf.OperatorSettings, group: str, plural: str) -> list[str]:
    resource = Resource(group=group, version="v1", plural=plural, namespaced=True)
    return list(settings.watching.label_selectors.collect(resource))


def test_children_are_watched_by_the_managed_by_label() -> None:
    settings = configured_settings()
    managed = f"{names.LABEL_MANAGED_BY}={names.MANAGER}"
    for group, plural in [
        ("", "pods"),
        ("", "services"),
        ("", "serviceaccounts"),
        ("apps", "deployments"),
        ("batch", "cronjobs"),
        ("rbac.authorization.k8s.io", "roles"),
        ("rbac.authorization.k8s.io", "rolebindings"),
    ]:
        assert selectors_for(settings, group, plural) == [managed], plural


def test_backup_jobs_by_component_and_secrets_unfiltered() -> None:
    settings = configured_settings()
    assert selectors_for(settings, "batch", "jobs") == [f"{names.LABEL_COMPONENT}={names.COMPONENT_BACKUP}"]
    assert selectors_for(settings, "", "secrets") == []  # users' .env Secrets carry no label of ours
    assert selectors_for(settings, names.GROUP, names.PLURAL) == []
