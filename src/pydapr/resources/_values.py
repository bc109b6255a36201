"""Turn YAML values into the text Dapr gives them (Go's JSON encoding of the YAML-to-JSON value)."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

__all__ = ["describe", "go_text"]

# Go's encoder escapes these so its JSON can sit inside HTML; Dapr hands that text on unchanged.
_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def describe(value: Any) -> str:
    """A short phrase for an unexpected value in an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {value}"
    if isinstance(value, str):
        return f'string "{value}"'
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def go_float(value: float) -> str:
    """Format a float as Go's encoding/json does (``1.0`` is ``1``, ``1e21`` stays exponent)."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"unsupported number {value} (JSON has no NaN or infinity)")
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        return format(Decimal(repr(value)), "e")
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _scalar_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    return go_text(key)


def _go_json(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        for raw, escaped in _HTML_ESCAPES.items():
            text = text.replace(raw, escaped)
        return text
    if isinstance(value, list):
        return "[" + ",".join(_go_json(item) for item in value) + "]"
    if isinstance(value, dict):
        # Go's encoder sorts map keys; byte order of UTF-8 equals code point order.
        items = sorted(((_scalar_key(key), item) for key, item in value.items()), key=lambda pair: pair[0])
        return "{" + ",".join(f"{_go_json(key)}:{_go_json(item)}" for key, item in items) + "}"
    raise ValueError(f"unsupported value of type {type(value).__name__}")


def go_text(value: Any) -> str:
    """The string Dapr passes a component for a metadata ``value``: strings as-is, the rest as JSON."""
    if isinstance(value, str):
        return value
    return _go_json(value)
