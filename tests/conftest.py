"""Shared pytest configuration: test tiers are selected by markers and directories."""

from __future__ import annotations

import pytest

_TIER_BY_DIR = {"git": "git", "cluster": "cluster", "image": "image"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/<tier>/ with the tier's marker, so `-m git` etc. select them."""
    for item in items:
        parts = item.path.parts
        if "tests" in parts:
            tier = parts[parts.index("tests") + 1] if parts.index("tests") + 1 < len(parts) else ""
            marker = _TIER_BY_DIR.get(tier)
            if marker:
                item.add_marker(getattr(pytest.mark, marker))
