"""Consistent hash rings as Dapr builds them (dapr/dapr pkg/placement/hashing/consistent_hash.go).

Each actor type has its own ring. A host named ``ip:port`` owns ``replication_factor`` virtual
nodes at ``hash(name + str(i))``; an actor id belongs to the first virtual node at or after
``hash(actor_id)``, wrapping at the end. ``hash`` is the first 8 bytes, little-endian, of the
BLAKE2b-512 digest. Built the same way, the same ids land on the same hosts as under Dapr.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
from collections.abc import Iterable

DEFAULT_REPLICATION_FACTOR = 100  # Dapr's placement --replication-factor default


def hash_key(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode()).digest()[:8], "little")


@functools.lru_cache(maxsize=4096)
def virtual_nodes(host: str, replication_factor: int) -> tuple[int, ...]:
    """The ring positions of ``host`` (cached: every table rebuilds the rings of unchanged hosts)."""
    return tuple(hash_key(f"{host}{i}") for i in range(replication_factor))


class Ring:
    """One actor type's ring over its hosts' names."""

    __slots__ = ("_owners", "_points", "hosts")

    def __init__(self, hosts: Iterable[str], replication_factor: int = DEFAULT_REPLICATION_FACTOR) -> None:
        self.hosts = frozenset(hosts)
        owners: dict[int, str] = {}
        # Sorted names: should two hosts share a position (a 64-bit collision), both Dapr and this
        # keep one of them; sorting at least makes the choice the same on every sidecar.
        for host in sorted(self.hosts):
            for point in virtual_nodes(host, replication_factor):
                owners[point] = host
        self._points = sorted(owners)
        self._owners = owners

    def lookup(self, key: str) -> str | None:
        """The host owning ``key``, or None on an empty ring."""
        if not self._points:
            return None
        i = bisect.bisect_left(self._points, hash_key(key))
        if i == len(self._points):
            i = 0
        return self._owners[self._points[i]]
