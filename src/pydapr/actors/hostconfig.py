"""The app's actor settings (``GET /dapr/config``) as ``HostedTypes``, with Dapr's defaults.

Durations are Go durations as the SDKs write them (``1h0m0s``); a value that cannot be read keeps
the default and is named in a warning, as daprd logs it. ``entitiesConfig`` entries override the
top-level settings for the types they list.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from pydapr.resources.durations import parse_duration

from .contract import EntityConfig, HostedTypes

DEFAULT_IDLE_TIMEOUT = 3600.0
DEFAULT_SCAN_INTERVAL = 30.0
DEFAULT_DRAIN_TIMEOUT = 60.0
DEFAULT_MAX_STACK_DEPTH = 32


def _field(doc: Mapping[str, Any], name: str) -> Any:
    # Go's encoding/json matches field names case-insensitively.
    if name in doc:
        return doc[name]
    lowered = name.lower()
    for key, value in doc.items():
        if isinstance(key, str) and key.lower() == lowered:
            return value
    return None


def _seconds(doc: Mapping[str, Any], name: str, default: float, warnings: list[str], where: str) -> float:
    raw = _field(doc, name)
    if raw is None or raw == "":
        return default
    try:
        if not isinstance(raw, str):
            raise ValueError(f"{raw!r} is not a duration string")
        value = parse_duration(raw)
    except ValueError as exc:
        warnings.append(f"{where}{name}: {exc}; using the default {default:g}s")
        return default
    return value


def _entity(
    actor_type: str, doc: Mapping[str, Any], base: EntityConfig | None, warnings: list[str], where: str
) -> EntityConfig:
    base = base or EntityConfig(actor_type)
    reentrancy = _field(doc, "reentrancy")
    enabled, depth = base.reentrancy_enabled, base.reentrancy_max_stack_depth
    if isinstance(reentrancy, Mapping):
        enabled = bool(_field(reentrancy, "enabled") or False)
        raw_depth = _field(reentrancy, "maxStackDepth")
        depth = raw_depth if isinstance(raw_depth, int) and raw_depth > 0 else DEFAULT_MAX_STACK_DEPTH
    drain = _field(doc, "drainRebalancedActors")
    partitions = _field(doc, "remindersStoragePartitions")
    return EntityConfig(
        actor_type=actor_type,
        idle_timeout=_seconds(doc, "actorIdleTimeout", base.idle_timeout, warnings, where),
        drain_ongoing_call_timeout=_seconds(
            doc, "drainOngoingCallTimeout", base.drain_ongoing_call_timeout, warnings, where
        ),
        drain_rebalanced_actors=base.drain_rebalanced_actors if drain is None else bool(drain),
        reentrancy_enabled=enabled,
        reentrancy_max_stack_depth=depth,
        reminders_storage_partitions=(
            partitions if isinstance(partitions, int) else base.reminders_storage_partitions
        ),
    )


def parse_app_config(doc: Mapping[str, Any]) -> tuple[HostedTypes, list[str]]:
    """(the hosted types, warnings for values that could not be read or are not applied)."""
    warnings: list[str] = []
    where = "GET /dapr/config: "
    entities = _field(doc, "entities") or []
    if not isinstance(entities, list):
        warnings.append(f"{where}entities is not a list; no actor types are hosted")
        entities = []
    top = _entity("", doc, None, warnings, where)
    scan = _seconds(doc, "actorScanInterval", DEFAULT_SCAN_INTERVAL, warnings, where)
    if scan <= 0:
        scan = DEFAULT_SCAN_INTERVAL
    types: dict[str, EntityConfig] = {}
    for name in entities:
        if isinstance(name, str) and name:
            types[name] = msgspec.structs.replace(top, actor_type=name)
    for i, entry in enumerate(_field(doc, "entitiesConfig") or []):
        if not isinstance(entry, Mapping):
            continue
        for name in _field(entry, "entities") or []:
            if isinstance(name, str) and name:
                if name not in types:
                    warnings.append(f"{where}entitiesConfig[{i}] names {name!r}, which is not in entities")
                    continue
                types[name] = _entity(name, entry, top, warnings, f"{where}entitiesConfig[{i}].")
        if _field(entry, "actorScanInterval") not in (None, ""):
            warnings.append(
                f"{where}entitiesConfig[{i}].actorScanInterval is not applied: "
                "the scan interval is per sidecar"
            )
    if any(t.reminders_storage_partitions for t in types.values()):
        warnings.append(
            f"{where}remindersStoragePartitions is not applied: reminders are stored by the scheduler"
        )
    return HostedTypes(types, scan), warnings
