"""Typed field access on one parsed YAML document, raising ResourceError that names the field."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ._values import describe, go_text
from .durations import parse_duration, parse_millis_or_duration
from .errors import ResourceError
from .models import MetadataItem, SecretKeyRef

T = TypeVar("T")

__all__ = ["Doc", "join"]


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


@dataclass(slots=True)
class Doc:
    """One document being read: where it came from and what to call it in errors."""

    file: Path
    kind: str
    document: int
    name: str | None = None

    def error(self, field: str | None, problem: str) -> ResourceError:
        return ResourceError(
            self.file, problem, kind=self.kind, name=self.name, field=field, document=self.document
        )

    # Go's encoding/json matches keys case-insensitively, so Dapr accepts ``pubsubName`` for
    # ``pubsubname`` and ``secretstore`` for ``secretStore``; exact spelling wins when both exist.
    def get(self, obj: dict[str, Any], key: str) -> Any:
        if key in obj:
            return obj[key]
        folded = key.casefold()
        found = None
        for candidate, value in obj.items():
            if isinstance(candidate, str) and candidate.casefold() == folded:
                found = value
        return found

    def mapping_value(self, value: Any, path: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(path, f"expected a mapping, got {describe(value)}")
        return value

    def mapping(self, obj: dict[str, Any], key: str, path: str) -> dict[str, Any]:
        return self.mapping_value(self.get(obj, key), join(path, key))

    def items(self, obj: dict[str, Any], key: str, path: str) -> list[tuple[str, dict[str, Any]]]:
        """A list whose entries must be mappings, each with its field path."""
        where = join(path, key)
        value = self.get(obj, key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(where, f"expected a list, got {describe(value)}")
        return [
            (join(where, i), self.mapping_value(item, join(where, i)) or {}) for i, item in enumerate(value)
        ]

    def string(self, obj: dict[str, Any], key: str, path: str, default: str | None = None) -> str | None:
        value = self.get(obj, key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self.error(join(path, key), f"expected a string, got {describe(value)}")
        return value

    def required(self, obj: dict[str, Any], key: str, path: str) -> str:
        value = self.string(obj, key, path)
        if not value:
            raise self.error(join(path, key), "field required")
        return value

    def text(self, obj: dict[str, Any], key: str, path: str) -> str | None:
        """A string field that also takes a bare YAML number or boolean, as text."""
        value = self.get(obj, key)
        if value is None:
            return None
        if isinstance(value, (dict, list)):
            raise self.error(join(path, key), f"expected a string, got {describe(value)}")
        return go_text(value)

    def strings(self, obj: dict[str, Any], key: str, path: str) -> tuple[str, ...]:
        where = join(path, key)
        value = self.get(obj, key)
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.error(where, f"expected a list of strings, got {describe(value)}")
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise self.error(join(where, i), f"expected a string, got {describe(item)}")
        return tuple(value)

    def boolean(self, obj: dict[str, Any], key: str, path: str, default: T) -> bool | T:
        value = self.get(obj, key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(join(path, key), f"expected true or false, got {describe(value)}")
        return value

    def integer(self, obj: dict[str, Any], key: str, path: str, default: int) -> int:
        value = self.get(obj, key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(join(path, key), f"expected an integer, got {describe(value)}")
        return value

    def duration(
        self,
        obj: dict[str, Any],
        key: str,
        path: str,
        default: T,
        *,
        millis: bool = False,
    ) -> float | T:
        """A Go duration; with ``millis`` a bare integer means milliseconds (resiliency policies)."""
        value = self.get(obj, key)
        if value is None or value == "":
            return default
        return self.parse_duration(value, join(path, key), millis=millis)

    def parse_duration(self, value: Any, where: str, *, millis: bool = False) -> float:
        parse: Callable[[Any], float] = parse_millis_or_duration if millis else parse_duration
        if not isinstance(value, str) and not (
            millis and isinstance(value, int) and not isinstance(value, bool)
        ):
            raise self.error(where, f"expected a duration like 5s or 300ms, got {describe(value)}")
        try:
            return parse(value)
        except ValueError as exc:
            raise self.error(where, str(exc)) from None

    def name_values(self, obj: dict[str, Any], key: str, path: str) -> tuple[MetadataItem, ...]:
        """Dapr's name/value pairs: a ``value``, a ``secretKeyRef`` or an ``envRef`` (read now)."""
        return tuple(self._name_value(item, where) for where, item in self.items(obj, key, path))

    def _name_value(self, item: dict[str, Any], where: str) -> MetadataItem:
        name = self.required(item, "name", where)
        raw = self.get(item, "value")
        ref = (
            self.mapping(item, "secretKeyRef", where) if self.get(item, "secretKeyRef") is not None else None
        )
        env = self.string(item, "envRef", where) or None
        given = [
            label
            for label, present in (("value", raw is not None), ("secretKeyRef", ref), ("envRef", env))
            if present
        ]
        if len(given) > 1:
            raise self.error(where, f"{' and '.join(given)} are mutually exclusive; set only one")
        if ref is not None:
            secret = self.required(ref, "name", join(where, "secretKeyRef"))
            # Dapr looks the secret's own name up as the key when no key is given.
            key = self.string(ref, "key", join(where, "secretKeyRef")) or secret
            return MetadataItem(name=name, value=None, secret_key_ref=SecretKeyRef(name=secret, key=key))
        if env is not None:
            return MetadataItem(name=name, value=self._env(env, join(where, "envRef")), secret_key_ref=None)
        if raw is None:
            return MetadataItem(name=name, value="", secret_key_ref=None)
        try:
            return MetadataItem(name=name, value=go_text(raw), secret_key_ref=None)
        except ValueError as exc:
            raise self.error(join(where, "value"), str(exc)) from None

    def _env(self, variable: str, where: str) -> str:
        upper = variable.upper()
        # Dapr refuses these so a resource file cannot read the sidecar's own credentials.
        if upper == "APP_API_TOKEN" or upper.startswith("DAPR_") or " " in variable:
            raise self.error(where, f'environment variable "{variable}" may not be referenced')
        allow = os.environ.get("DAPR_ENV_KEYS", "")
        if allow and upper not in allow.split(" "):
            raise self.error(where, f'environment variable "{variable}" is not listed in DAPR_ENV_KEYS')
        value = os.environ.get(variable)
        if value is None:
            raise self.error(where, f'environment variable "{variable}" is not set')
        return value
