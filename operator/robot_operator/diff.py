"""Pure comparison of a desired child object with the live one, and the merge patch that puts it back.

Choice: the desired dict is compared as a SUBSET of the live object, field by field, rather than keeping a hash of
the desired spec in an annotation. A hash only notices changes of the desired side; a subset comparison also
notices drift made by hand (`kubectl scale --replicas=2`, a deleted label, an edited probe) while ignoring what the
API server adds (defaults such as `terminationMessagePath`, `clusterIP`, `protocol: TCP`) and what others add
(extra labels and annotations, e.g. `kubectl rollout restart`). Rules:

- maps: every desired key must match in live; extra live keys are fine, EXCEPT at the "exact" paths of a kind
  (a Secret's `data`, a Deployment's `spec.strategy`), where an extra live key is a difference and the patch
  sets it to null;
- lists: same length, element by element (a list is replaced whole by a merge patch, so we own it whole);
- a desired empty value (None, {}, [], "") matches an absent live value (the server drops empty fields);
- quantities under `resources` compare by value (`0.5` == `500m`, `1Gi` == `1024Mi`);
- a Secret's `stringData` is compared as the base64 `data` the server stores.

`differences` returns the PATHS that differ, never values, so it is safe to log for Secrets too.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

Obj = dict[str, Any]

EXACT_PATHS: Final[dict[str, frozenset[str]]] = {
    "Secret": frozenset({"data"}),
    "Deployment": frozenset({"spec.strategy"}),
}
IGNORED_TOP_LEVEL: Final = frozenset({"apiVersion", "kind", "status"})
COMPARED_METADATA: Final = ("labels", "annotations", "ownerReferences")
_SUFFIXES: Final = {
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
}


def is_empty(value: object) -> bool:
    return value is None or value == {} or value == [] or value == ""


def quantity(value: object) -> Decimal | None:
    """A Kubernetes quantity as a number, or None when `value` is not one."""
    text = str(value).strip()
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if text.endswith(suffix) and text[: -len(suffix)]:
            try:
                return Decimal(text[: -len(suffix)]) * _SUFFIXES[suffix]
            except InvalidOperation:
                return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def scalars_equal(desired: object, live: object, path: str) -> bool:
    if desired == live and type(desired) is type(live):
        return True
    if isinstance(desired, bool) or isinstance(live, bool):
        return False
    if ".resources." in f".{path}." and isinstance(desired, (str, int)) and isinstance(live, (str, int)):
        left, right = quantity(desired), quantity(live)
        return left is not None and left == right
    return False


def differences(desired: object, live: object, path: str = "", exact: frozenset[str] = frozenset()) -> list[str]:
    """The dotted paths at which `live` does not carry `desired` (subset semantics, see the module docstring)."""
    if is_empty(desired) and is_empty(live):
        return []
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            return [path or "."]
        found: list[str] = []
        for key, value in desired.items():
            found += differences(value, live.get(key), join(path, str(key)), exact)
        if path in exact:
            found += [join(path, str(key)) for key in live if key not in desired and not is_empty(live[key])]
        return found
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            return [path or "."]
        found = []
        for index, (want, have) in enumerate(zip(desired, live, strict=True)):
            found += differences(want, have, f"{path}[{index}]", exact)
        return found
    return [] if scalars_equal(desired, live, path) else [path or "."]


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def normalized(desired: Mapping[str, Any]) -> Obj:
    """`desired` as the server would store it: a Secret's stringData folded into base64 data."""
    result = copy.deepcopy(dict(desired))
    string_data = result.pop("stringData", None)
    if result.get("kind") == "Secret" and string_data:
        data = dict(result.get("data") or {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode("utf-8")).decode("ascii")
        result["data"] = data
    return result


def compared_part(obj: Mapping[str, Any]) -> Obj:
    """The part of an object the operator owns: metadata labels/annotations/ownerReferences and the body."""
    metadata = obj.get("metadata") or {}
    part: Obj = {"metadata": {key: metadata[key] for key in COMPARED_METADATA if key in metadata}}
    part.update({key: value for key, value in obj.items() if key not in IGNORED_TOP_LEVEL and key != "metadata"})
    return part


def child_differences(desired: Mapping[str, Any], live: Mapping[str, Any]) -> list[str]:
    """The paths where the live child drifted from the desired one (empty: nothing to write)."""
    want = normalized(desired)
    exact = EXACT_PATHS.get(str(want.get("kind", "")), frozenset())
    return differences(compared_part(want), compared_part(live), "", exact)


def merge_patch(desired: Mapping[str, Any], live: Mapping[str, Any]) -> Obj:
    """The JSON merge patch that makes `live` carry `desired` again (nulls remove extra keys at exact paths)."""
    want = normalized(desired)
    patch = compared_part(want)
    for exact_path in EXACT_PATHS.get(str(want.get("kind", "")), frozenset()):
        live_map, patch_map = lookup(live, exact_path), lookup(patch, exact_path)
        if isinstance(live_map, Mapping) and isinstance(patch_map, dict):
            patch_map.update({key: None for key in live_map if key not in patch_map})
    return patch


def lookup(obj: Mapping[str, Any], dotted: str) -> object:
    current: object = obj
    for key in dotted.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current
