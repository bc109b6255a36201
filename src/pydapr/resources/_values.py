"""Turn YAML values into the text Dapr gives them (Go's JSON encoding of the YAML-to-JSON value)."""

from __future__ import annotations

import json
import math
import os
import struct
import uuid
from decimal import Decimal
from typing import Any

__all__ = ["describe", "expand_placeholders", "go_string", "go_text"]

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


def _float32(value: float) -> float:
    return float(struct.unpack("f", struct.pack("f", value))[0])


def _go_float32_text(value: float) -> str:
    """``strconv.FormatFloat(v, 'g', -1, 32)``: the shortest digits that survive float32."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    target = _float32(value)
    if target == 0:
        return "-0" if math.copysign(1, target) < 0 else "0"
    for digits in range(1, 10):
        mantissa, _, exponent = f"{target:.{digits - 1}e}".partition("e")
        if _float32(float(f"{mantissa}e{exponent}")) == target:
            break
    sign = "-" if mantissa.startswith("-") else ""
    figures = mantissa.lstrip("-").replace(".", "").rstrip("0") or "0"
    power = int(exponent)
    # Go's %g with shortest digits switches to an exponent below 1e-4 and from 1e6 up.
    if power < -4 or power >= 6:
        body = figures[0] + ("." + figures[1:] if len(figures) > 1 else "")
        return f"{sign}{body}e{'-' if power < 0 else '+'}{abs(power):02d}"
    if power < 0:
        return f"{sign}0.{'0' * (-power - 1)}{figures}"
    whole = figures[: power + 1].ljust(power + 1, "0")
    fraction = figures[power + 1 :]
    return f"{sign}{whole}" + (f".{fraction}" if fraction else "")


def go_string(value: Any) -> str | None:
    """A YAML scalar read into one of Dapr's string fields (sigs.k8s.io/yaml's coercion).

    Strings stay as they are, integers and booleans become their text, floats the shortest
    float32 text; ``None`` for a mapping or list, which a string field cannot take.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float32_text(value)
    return None


def expand_placeholders(
    properties: dict[str, str], *, app_id: str, namespace: str, pod_name: str | None = None
) -> dict[str, str]:
    """Dapr's substitutions in every component's metadata (pkg/runtime/meta): each ``{uuid}``
    becomes a fresh UUID, ``{podName}`` the pod's name (``$POD_NAME``; an error when unset),
    ``{namespace}`` becomes ``namespace.appID`` and ``{appID}`` the app id."""
    pod = os.environ.get("POD_NAME", "") if pod_name is None else pod_name
    expanded: dict[str, str] = {}
    for name, raw in properties.items():
        value = raw
        while "{uuid}" in value:
            value = value.replace("{uuid}", str(uuid.uuid4()), 1)
        if "{podName}" in value:
            if not pod:
                raise ValueError(f"metadata {name!r} refers to {{podName}} but POD_NAME is not set")
            value = value.replace("{podName}", pod)
        expanded[name] = value.replace("{namespace}", f"{namespace}.{app_id}").replace("{appID}", app_id)
    return expanded
