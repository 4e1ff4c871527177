"""The supervisor's control endpoint (health, readiness, backup, metrics) and its client, `remote_backup`."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from robot_runtime.results import BackupResult


def remote_backup(url: str, token: str, timeout: float) -> BackupResult:
    """Ask a running supervisor at `url` to back up; any failure becomes a Failed result (never naming the token)."""
    if not url.startswith(("http://", "https://")):
        return _failed(f"remote URL {_redact(url)} is not an http:// or https:// URL")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url.rstrip("/") + "/backup",
        data=b"",
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked
            return _result_from_body(response.read(), response.status)
    except urllib.error.HTTPError as error:
        body = error.read()
        if error.code == 500:
            return _result_from_body(body, error.code)
        return _failed(f"control endpoint {_redact(url)} answered HTTP {error.code} {error.reason}")
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        reason = getattr(error, "reason", error)
        return _failed(f"cannot reach control endpoint {_redact(url)}: {_one_line(str(reason))}")


def _result_from_body(body: bytes, status: int) -> BackupResult:
    try:
        return BackupResult.from_json(body.decode("utf-8", "replace"))
    except (ValueError, json.JSONDecodeError):
        return _failed(f"control endpoint answered HTTP {status} without a backup result")


def _failed(message: str) -> BackupResult:
    return BackupResult(result="Failed", commit=None, message=message)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _redact(url: str) -> str:
    """Drop any user:password@ part of a URL before it is logged."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    host = authority.rpartition("@")[2]
    return f"{scheme}://{host}{slash}{path}"
