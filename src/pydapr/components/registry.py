"""Lazy registry from Dapr component type and version to an implementation class.

A type name maps to a dotted import path, imported only when a component of that type is loaded,
so a driver (redis, asyncpg, ...) is imported only by sidecars that use it. Third-party components
register through the entry-point group ``pydapr.components`` with names like ``state.foo/v1``.

The installed distributions are scanned for those entry points only when a type is asked for that
no built-in family has (or every known type is listed): the scan (``importlib.metadata``) costs a
sidecar that uses built-in types alone ~1.6 MiB and ~17 ms of its start. A plugin therefore adds
types and versions; one naming a built-in type and version does not replace the built-in.
"""

from __future__ import annotations

import importlib
import logging

from pydapr.components.base import Component

log = logging.getLogger("pydapr.components")

ENTRY_POINT_GROUP = "pydapr.components"

# type -> {version -> "module:Class"}. Families add their entries in their own package's
# ``REGISTRY`` dict (see pydapr/<family>/__init__.py) so this file stays family-agnostic.
_BUILTIN_FAMILIES = (
    "pydapr.state",
    "pydapr.pubsub",
    "pydapr.bindings",
    "pydapr.secrets",
    "pydapr.configuration",
    "pydapr.lock",
    "pydapr.crypto",
    "pydapr.conversation",
    "pydapr.nameresolution",
    "pydapr.middleware",
)


class UnknownComponentType(LookupError):
    def __init__(self, type_name: str, version: str, known_versions: list[str]) -> None:
        if known_versions:
            msg = f"component type {type_name} has no version {version} (known: {', '.join(known_versions)})"
        else:
            msg = f"unknown component type {type_name}/{version}"
        super().__init__(msg)


class ComponentRegistry:
    def __init__(self) -> None:
        self._paths: dict[str, dict[str, str]] = {}
        self._loaded_builtins = False
        self._loaded_entry_points = False

    def register(self, type_name: str, version: str, target: str) -> None:
        """Register ``module:Class`` for ``type_name``/``version`` (e.g. ``state.redis``, ``v1``)."""
        self._paths.setdefault(type_name, {})[version] = target

    def _ensure_loaded(self, *, plugins: bool) -> None:
        if not self._loaded_builtins:
            self._loaded_builtins = True
            for package in _BUILTIN_FAMILIES:
                try:
                    module = importlib.import_module(package)
                except ModuleNotFoundError as exc:
                    if exc.name != package:
                        raise
                    continue
                for (type_name, version), target in getattr(module, "REGISTRY", {}).items():
                    self.register(type_name, version, target)
        if plugins and not self._loaded_entry_points:
            self._loaded_entry_points = True
            from importlib.metadata import entry_points

            for ep in entry_points(group=ENTRY_POINT_GROUP):
                type_name, _, version = ep.name.partition("/")
                versions = self._paths.setdefault(type_name, {})
                if versions.get(version or "v1", ep.value) != ep.value:
                    log.warning(
                        "component plugin %s (%s) names built-in type %s/%s: the built-in is used",
                        ep.value,
                        getattr(ep.dist, "name", "?"),
                        type_name,
                        version or "v1",
                    )
                    continue
                versions[version or "v1"] = ep.value

    def known_types(self) -> dict[str, list[str]]:
        self._ensure_loaded(plugins=True)
        return {t: sorted(v) for t, v in sorted(self._paths.items())}

    def versions(self, type_name: str) -> list[str]:
        """The versions known for ``type_name``: the built-in ones, else the plugins'."""
        self._ensure_loaded(plugins=False)
        if type_name not in self._paths:
            self._ensure_loaded(plugins=True)
        return sorted(self._paths.get(type_name, {}))

    def resolve(self, type_name: str, version: str) -> type[Component]:
        self._ensure_loaded(plugins=False)
        target = self._paths.get(type_name, {}).get(version)
        if target is None:
            self._ensure_loaded(plugins=True)
        versions = self._paths.get(type_name, {})
        target = versions.get(version)
        if target is None:
            raise UnknownComponentType(type_name, version, sorted(versions))
        module_name, _, attr = target.partition(":")
        module = importlib.import_module(module_name)
        cls: type[Component] = getattr(module, attr)
        return cls

    def create(self, type_name: str, version: str) -> Component:
        return self.resolve(type_name, version)()


registry = ComponentRegistry()
