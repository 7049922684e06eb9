"""Strict readers of JSON fields for the bundle formats: each error names the field's path.

Shared by `protocol.bundle` and `protocol.evidence`, so a bundle's sections report a wrong type,
a missing or an unknown field in the same words.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from typing import Any, Final

from protocol.errors import BundleFormatError

_FIELD_NAME: Final = re.compile(r"[A-Za-z0-9_]+")

_JSON_TYPES: Final[tuple[tuple[type, str], ...]] = (
    (bool, "a boolean"),  # before int: bool is an int subclass
    (int, "a number"),
    (float, "a number"),
    (str, "a string"),
    (list, "an array"),
    (dict, "an object"),
)


def json_type(value: object) -> str:
    """How a JSON reader would name `value`'s type, for error messages."""
    if value is None:
        return "null"
    for kind, name in _JSON_TYPES:
        if isinstance(value, kind):
            return name
    return type(value).__name__


def json_object(value: object, path: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise BundleFormatError(path, f"must be a JSON object, not {json_type(value)}")
    return value


def json_int(value: object, path: str, low: int, high: int) -> int:
    """An integer (not a boolean, not 1.0) within [low, high]."""
    if type(value) is not int:
        raise BundleFormatError(path, f"must be an integer, not {json_type(value)}")
    if not low <= value <= high:
        raise BundleFormatError(path, f"{value} is out of range ({low} to {high})")
    return value


def only_fields(obj: Mapping[str, Any], allowed: tuple[str, ...], prefix: str) -> None:
    """Refuse the first unknown field (sorted, so the error is the same on every run)."""
    unknown = obj.keys() - _field_set(allowed)
    if unknown:
        name = sorted(unknown)[0]
        if _FIELD_NAME.fullmatch(name) is None:  # "", spaces, control characters: quoted
            name = json.dumps(name)
        raise BundleFormatError(prefix + name, "unknown field (not part of the bundle format)")


def required(obj: Mapping[str, Any], name: str, prefix: str, why: str = "") -> Any:
    try:
        return obj[name]
    except KeyError:
        raise BundleFormatError(prefix + name, f"missing{why}") from None


@functools.cache
def _field_set(fields: tuple[str, ...]) -> frozenset[str]:
    return frozenset(fields)
