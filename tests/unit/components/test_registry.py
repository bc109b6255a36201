"""The component registry: every built-in type name leads to a component class, lazily; unknown
types and versions are refused with a message naming what is known."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pydapr.components.base import Component
from pydapr.components.registry import UnknownComponentType, registry


def test_every_builtin_type_resolves_to_a_component() -> None:
    known = registry.known_types()
    assert {"state.redis", "pubsub.redis", "secretstores.local.file", "bindings.cron"} <= set(known)
    for type_name, versions in known.items():
        for version in versions:
            cls = registry.resolve(type_name, version)
            assert issubclass(cls, Component), f"{type_name}/{version} -> {cls!r}"


def test_unknown_type_and_version_are_refused_clearly() -> None:
    with pytest.raises(UnknownComponentType, match=r"unknown component type state\.nosuch/v1"):
        registry.resolve("state.nosuch", "v1")
    with pytest.raises(
        UnknownComponentType, match=r"component type state.postgresql has no version v9 \(known: v1, v2\)"
    ):
        registry.resolve("state.postgresql", "v9")


def test_drivers_are_imported_only_when_their_type_is_used() -> None:
    script = (
        "import sys\n"
        "from pydapr.components.registry import registry\n"
        "registry.known_types()\n"
        "drivers = ['redis', 'asyncpg', 'aiomysql', 'aio_pika', 'aiomqtt', 'nats', 'aiokafka']\n"
        "print([d for d in drivers if d in sys.modules])\n"
        "registry.resolve('state.redis', 'v1')\n"
        "print('redis' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split("\n")[:2] == ["[]", "True"]
