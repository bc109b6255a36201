"""Typed field access on one parsed YAML document, raising ResourceError that names the field."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from ._values import describe, go_string, go_text
from .durations import parse_duration, parse_millis_or_duration
from .errors import ResourceError
from .models import MetadataItem, SecretKeyRef

T = TypeVar("T")

__all__ = ["Doc", "join", "lookup"]

log = logging.getLogger("pydapr.resources")


def lookup(obj: dict[str, Any], key: str) -> Any:
    """``obj[key]`` as Go's encoding/json finds it: exact spelling first, then ignoring case.

    So Dapr accepts ``pubsubName`` for ``pubsubname`` and ``secretstore`` for ``secretStore``.
    """
    if key in obj:
        return obj[key]
    folded = key.casefold()
    found = None
    for candidate, value in obj.items():
        if isinstance(candidate, str) and candidate.casefold() == folded:
            found = value
    return found


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class Doc(msgspec.Struct):
    """One document being read: where it came from and what to call it in errors."""

    file: Path
    kind: str
    document: int
    name: str | None = None
    quiet: bool = False  # a second reading of something already warned about

    def error(self, field: str | None, problem: str) -> ResourceError:
        return ResourceError(
            self.file, problem, kind=self.kind, name=self.name, field=field, document=self.document
        )

    def warn(self, field: str | None, problem: str) -> None:
        """Log, in the same one-line form as an error, something Dapr accepts but pydapr doubts."""
        if not self.quiet:
            log.warning("%s", self.error(field, problem))

    def get(self, obj: dict[str, Any], key: str) -> Any:
        return lookup(obj, key)

    def note_unknown(self, obj: dict[str, Any], known: tuple[str, ...], path: str) -> None:
        """Unknown fields are ignored, as Go's decoder ignores them; a debug line names them."""
        folded = {key.casefold() for key in known}
        for key in obj:
            if not isinstance(key, str) or key.casefold() not in folded:
                log.debug("%s", self.error(join(path, str(key)), "unknown field, ignored"))

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
        """A string field; a bare number or boolean is taken as its text, as Dapr's decoder does."""
        value = self.get(obj, key)
        if value is None:
            return default
        text = go_string(value)
        if text is None:
            raise self.error(join(path, key), f"expected a string, got {describe(value)}")
        return text

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
        texts = []
        for i, item in enumerate(value):
            text = go_string(item)
            if text is None:
                raise self.error(join(where, i), f"expected a string, got {describe(item)}")
            texts.append(text)
        return tuple(texts)

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
        items = (self._name_value(item, where) for where, item in self.items(obj, key, path))
        return tuple(item for item in items if item is not None)

    def _name_value(self, item: dict[str, Any], where: str) -> MetadataItem | None:
        # Precedence as in Dapr's secret processor: an envRef applies only when there is no
        # value, and then wins over a secretKeyRef; a found secret replaces a value.
        raw = self.get(item, "value")
        ref = self.mapping(item, "secretKeyRef", where) if self.get(item, "secretKeyRef") is not None else {}
        secret = self.string(ref, "name", join(where, "secretKeyRef")) or None
        env = self.string(item, "envRef", where) or None
        name = self.string(item, "name", where) or None
        if name is None:
            self.warn(join(where, "name"), "missing; the item is ignored")
            return None
        if ref and secret is None:
            self.warn(join(where, "secretKeyRef.name"), "missing; the secretKeyRef is ignored")
        if env is not None:
            if raw is None:
                return MetadataItem(
                    name=name, value=self._env(env, join(where, "envRef")), secret_key_ref=None
                )
            self.warn(join(where, "envRef"), "ignored because a value is set")
        if secret is not None:
            if raw is not None:
                self.warn(join(where, "value"), "ignored because secretKeyRef is set")
            # Dapr looks the secret's own name up as the key when no key is given.
            key = self.string(ref, "key", join(where, "secretKeyRef")) or secret
            return MetadataItem(name=name, value=None, secret_key_ref=SecretKeyRef(name=secret, key=key))
        if raw is None:
            return MetadataItem(name=name, value="", secret_key_ref=None)
        try:
            return MetadataItem(name=name, value=go_text(raw), secret_key_ref=None)
        except ValueError as exc:
            raise self.error(join(where, "value"), str(exc)) from None

    def _env(self, variable: str, where: str) -> str:
        # Dapr refuses these so a resource file cannot read the sidecar's own credentials; like
        # Dapr, pydapr then leaves the value empty and says so, and so for an unset variable.
        upper = variable.upper()
        if upper == "APP_API_TOKEN" or upper.startswith("DAPR_") or " " in variable:
            self.warn(where, f'environment variable "{variable}" may not be referenced; the value is empty')
            return ""
        allow = os.environ.get("DAPR_ENV_KEYS", "")
        if allow and upper not in allow.split(" "):
            self.warn(
                where, f'environment variable "{variable}" is not listed in DAPR_ENV_KEYS; the value is empty'
            )
            return ""
        value = os.environ.get(variable)
        if value is None:
            self.warn(where, f'environment variable "{variable}" is not set; the value is empty')
            return ""
        return value
