"""What one refresh of the dashboard found: plain values the collectors fill and the renderer reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydapr.cli.instances import Instance
from pydapr.dashboard.nextrun import NextRun


@dataclass(frozen=True)
class Job:
    name: str
    schedule: str
    due_time: str
    ttl: str
    repeats: int | None
    next: NextRun


@dataclass(frozen=True)
class Workflow:
    instance_id: str
    name: str
    status: str
    created: datetime | None
    updated: datetime | None
    failure: str = ""


@dataclass
class Section:
    """One kind of data from one sidecar: its items, or why there are none (``error``)."""

    items: list[Any] = field(default_factory=list)
    error: str = ""
    more: bool = False  # the sidecar had more than the page shows


@dataclass
class SidecarView:
    """One running app and its sidecar as this refresh saw them."""

    instance: Instance
    # "healthy" (204), "unhealthy" (an error status), "unreachable" (no answer in time)
    health: str = "unreachable"
    health_detail: str = ""
    jobs: Section = field(default_factory=Section)
    workflows: Section = field(default_factory=Section)

    @property
    def metadata(self) -> dict[str, Any]:
        return self.instance.metadata or {}

    def listed(self, key: str) -> list[dict[str, Any]]:
        """The metadata's list under ``key`` (components, subscriptions, actors), objects only."""
        value = self.metadata.get(key)
        return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


@dataclass(frozen=True)
class Service:
    name: str
    address: str
    up: bool


@dataclass(frozen=True)
class ControlPlaneView:
    """The control plane ``control-plane.json`` names; ``running`` is whether its pid is alive."""

    pid: int
    running: bool
    started_at: str
    services: list[Service]


@dataclass
class Snapshot:
    taken_at: datetime
    apps: list[SidecarView]
    control_plane: ControlPlaneView | None
    home: str
    elapsed: float = 0.0  # seconds this refresh took
    error: str = ""  # discovery itself failed
