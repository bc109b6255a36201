"""Placement tables: built by the service from the sidecars' reports, read by every sidecar.

A table maps each actor type to the hosts that report it; a sidecar turns it into one
``ring.Ring`` per type and asks the ring where an actor id lives.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pydapr.placement._proto import placement_pb2 as pb
from pydapr.placement.ring import DEFAULT_REPLICATION_FACTOR, Ring


@dataclass(frozen=True, slots=True)
class Member:
    """A sidecar as it reported itself; ``name`` is ``ip:internal_port``, the address peers call."""

    name: str
    app_id: str
    namespace: str
    port: int = 0
    entities: frozenset[str] = frozenset()
    api_level: int = 0

    @classmethod
    def from_report(cls, host: pb.Host) -> Member:
        return cls(host.name, host.id, host.namespace, host.port, frozenset(host.entities), host.api_level)


def table_content(members: Iterable[Member]) -> dict[str, dict[str, tuple[str, int]]]:
    """actor type -> host name -> (app id, port): all a table says, to tell whether it changed."""
    content: dict[str, dict[str, tuple[str, int]]] = {}
    for m in members:
        for actor_type in m.entities:
            content.setdefault(actor_type, {})[m.name] = (m.app_id, m.port)
    return content


def to_proto(
    content: Mapping[str, Mapping[str, tuple[str, int]]], version: str, replication_factor: int
) -> pb.PlacementTables:
    tables = pb.PlacementTables(version=version, replication_factor=replication_factor)
    for actor_type, hosts in content.items():
        entry = tables.entries[actor_type]
        for name, (app_id, port) in hosts.items():
            entry.load_map[name].CopyFrom(pb.Host(name=name, id=app_id, port=port))
    return tables


@dataclass(frozen=True, slots=True)
class HostEntry:
    name: str
    app_id: str


class Tables:
    """A sidecar's copy of the tables: a ring per actor type and who each host is."""

    __slots__ = ("_hosts", "_rings", "replication_factor", "version")

    def __init__(self, tables: pb.PlacementTables) -> None:
        self.version = tables.version
        self.replication_factor = tables.replication_factor or DEFAULT_REPLICATION_FACTOR
        self._rings: dict[str, Ring] = {}
        self._hosts: dict[str, HostEntry] = {}
        for actor_type, entry in tables.entries.items():
            self._rings[actor_type] = Ring(entry.load_map.keys(), self.replication_factor)
            for name, host in entry.load_map.items():
                self._hosts[name] = HostEntry(name, host.id)

    @property
    def actor_types(self) -> frozenset[str]:
        return frozenset(self._rings)

    def lookup(self, actor_type: str, actor_id: str) -> HostEntry | None:
        ring = self._rings.get(actor_type)
        name = ring.lookup(actor_id) if ring is not None else None
        return self._hosts[name] if name is not None else None
