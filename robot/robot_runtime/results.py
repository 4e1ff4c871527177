"""The result of a backup, as printed by `robot-runtime backup` and served by `POST /backup`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Literal

Outcome = Literal["Pushed", "NoChanges", "Failed"]


@dataclass(frozen=True)
class BackupResult:
    """One backup's outcome; `commit` is the pushed (or current) commit id when there is one."""

    result: Outcome
    commit: str | None
    message: str

    @property
    def ok(self) -> bool:
        return self.result != "Failed"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> BackupResult:
        """Parse a result; raises ValueError when the text is not a backup result."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("result") not in ("Pushed", "NoChanges", "Failed"):
            raise ValueError("not a backup result: expected a JSON object with result Pushed|NoChanges|Failed")
        commit = data.get("commit")
        return cls(
            result=data["result"],
            commit=str(commit) if commit else None,
            message=str(data.get("message", "")),
        )
