"""Loads the sidecar's components in Dapr's order: secret stores first, then everything else.

Each component gets its metadata resolved (secretKeyRef through its ``auth.secretStore`` or the
default secret store), is created through the lazy registry and initialised within its
``initTimeout``. A failure stops startup with a message naming the file, the component and the
cause, unless the component says ``ignoreErrors: true``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydapr.components.base import Component, ComponentConfigError, ComponentMetadata
from pydapr.components.registry import UnknownComponentType, registry
from pydapr.pipeline import Pipeline
from pydapr.resources import Component as ComponentSpec
from pydapr.resources import SecretKeyRef, expand_placeholders, registry_version

log = logging.getLogger("pydapr.components")


class SecretLookup(Protocol):
    async def get_secret(self, key: str, metadata: dict[str, str]) -> dict[str, str]: ...


class ComponentStartupError(Exception):
    """A component could not be loaded; the message names file, component and cause."""


@dataclass(slots=True)
class LoadedComponent:
    spec: ComponentSpec
    metadata: ComponentMetadata
    instance: Component

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def family(self) -> str:
        return self.spec.family

    def describe(self) -> dict[str, Any]:
        """The entry for GET /v1.0/metadata's ``components``."""
        return {
            "name": self.spec.name,
            "type": self.spec.type,
            "version": self.spec.version,
            "capabilities": sorted(self.instance.features()),
        }


class ComponentStore:
    """The sidecar's loaded components, by family and name."""

    def __init__(
        self, *, app_id: str, namespace: str, base_dir: Path, pipeline: Pipeline | None = None
    ) -> None:
        self.app_id = app_id
        self.pipeline = pipeline
        self.namespace = namespace
        self.base_dir = base_dir
        self._by_family: dict[str, dict[str, LoadedComponent]] = {}

    def by_family(self, family: str) -> dict[str, LoadedComponent]:
        return self._by_family.get(family, {})

    def all(self) -> list[LoadedComponent]:
        return [c for family in self._by_family.values() for c in family.values()]

    def add(self, loaded: LoadedComponent) -> None:
        self._by_family.setdefault(loaded.family, {})[loaded.name] = loaded

    async def load_all(self, specs: list[ComponentSpec]) -> None:
        secret_specs = [s for s in specs if s.family == "secretstores"]
        other_specs = [s for s in specs if s.family != "secretstores"]
        for spec in secret_specs:
            await self._load_one(spec)
        for spec in other_specs:
            await self._load_one(spec)

    async def _load_one(self, spec: ComponentSpec) -> None:
        where = f'{spec.source}: Component "{spec.name}"'
        type_name = spec.type.lower()
        version = registry_version(spec.version, registry.known_types().get(type_name, []))
        try:
            # The type first, so a file naming a type pydapr lacks gets only that error.
            cls = registry.resolve(type_name, version)
            properties = await self._resolve_metadata(spec)
            metadata = ComponentMetadata(
                name=spec.name,
                type=spec.type,
                version=spec.version,
                properties=properties,
                app_id=self.app_id,
                namespace=self.namespace,
                base_dir=self.base_dir,
            )
            instance = cls()
            try:
                await asyncio.wait_for(instance.init(metadata), timeout=spec.init_timeout)
            except TimeoutError:
                await _close_quietly(instance)
                raise ComponentStartupError(
                    f"init did not finish within initTimeout ({spec.init_timeout:g}s)"
                ) from None
            except BaseException:
                await _close_quietly(instance)
                raise
        except UnknownComponentType as exc:
            self._fail(spec, f"{where}: {exc}")
            return
        except (ComponentStartupError, ComponentConfigError) as exc:
            self._fail(spec, f"{where} ({type_name}/{version}): {exc}")
            return
        except Exception as exc:
            self._fail(spec, f"{where} ({type_name}/{version}): init failed: {type(exc).__name__}: {exc}")
            return
        self.add(LoadedComponent(spec, metadata, instance))
        log.info("component loaded: %s (%s/%s)", spec.name, spec.type, spec.version)

    def _fail(self, spec: ComponentSpec, message: str) -> None:
        if spec.ignore_errors:
            log.warning("%s (ignored: spec.ignoreErrors is true)", message)
            return
        raise ComponentStartupError(message)

    async def _resolve_metadata(self, spec: ComponentSpec) -> dict[str, str]:
        properties = spec.plain_metadata()
        for item_name, ref in spec.secret_refs():
            properties[item_name] = await self.secret(spec.secret_store, ref, f"metadata {item_name!r}")
        try:
            return expand_placeholders(properties, app_id=self.app_id, namespace=self.namespace)
        except ValueError as exc:
            raise ComponentStartupError(str(exc)) from None

    async def secret(self, store_name: str | None, ref: SecretKeyRef, what: str) -> str:
        """Resolve one ``secretKeyRef`` through ``store_name`` (or the only secret store loaded);
        the error names what needed it, the store and the secret, never a secret value."""
        stores = self.by_family("secretstores")
        if store_name is None:
            if len(stores) != 1:
                names = ", ".join(sorted(stores)) or "none loaded"
                raise ComponentStartupError(
                    f"{what} uses secretKeyRef but auth.secretStore is not set (secret stores: {names})"
                )
            store_name = next(iter(stores))
        store = stores.get(store_name)
        if store is None:
            raise ComponentStartupError(
                f"auth.secretStore {store_name!r} is not a loaded secret store "
                f"(loaded: {', '.join(sorted(stores)) or 'none'})"
            )
        lookup: Any = store.instance
        try:
            values = await lookup.get_secret(ref.name, {})
        except Exception as exc:
            raise ComponentStartupError(
                f"{what}: secret {ref.name!r} not found in secret store {store_name!r}: {exc}"
            ) from exc
        value = values.get(ref.key)
        if value is None:
            raise ComponentStartupError(
                f"{what}: secret {ref.name!r} in secret store {store_name!r} has no key {ref.key!r}"
            )
        return str(value)

    async def close_all(self) -> None:
        # Close in reverse: secret stores last, since others may still hold references to them.
        for loaded in reversed(self.all()):
            await _close_quietly(loaded.instance)
        self._by_family.clear()


async def _close_quietly(instance: Component) -> None:
    try:
        await instance.close()
    except Exception:
        log.exception("closing component failed")
