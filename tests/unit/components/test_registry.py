"""The component registry: every built-in type name leads to a component class, lazily; unknown
types and versions are refused with a message naming what is known."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def test_a_plugin_type_resolves_and_the_scan_waits_for_a_type_not_built_in(tmp_path: Path) -> None:
    # A distribution as pip installs one: its dist-info declares the entry point, its module the class.
    dist = tmp_path / "pydapr_fake_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: pydapr-fake-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[pydapr.components]\n"
        "state.fakeplugin/v1 = fake_plugin_store:Store\n"
        "state.redis/v1 = fake_plugin_store:Store\n"
    )
    (tmp_path / "fake_plugin_store.py").write_text(
        "from pydapr.components.base import Component\n\nclass Store(Component):\n    pass\n"
    )
    script = (
        "import sys\n"
        "from pydapr.components.registry import registry\n"
        "print(registry.resolve('state.in-memory', 'v1').__module__)\n"
        "print('importlib.metadata' in sys.modules)\n"
        "print(registry.resolve('state.fakeplugin', 'v1').__module__)\n"
        "print(registry.resolve('state.redis', 'v1').__module__)\n"
        "print('state.fakeplugin' in registry.known_types())\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), *sys.path]))
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60, env=env
    )
    assert out.stdout.split("\n")[:5] == [
        "pydapr.state.memory",
        "False",  # built-in types alone: no scan of the installed distributions
        "fake_plugin_store",
        "pydapr.state.redis",  # a plugin adds types; it does not replace a built-in one
        "True",
    ]
    assert "names built-in type state.redis/v1: the built-in is used" in out.stderr
