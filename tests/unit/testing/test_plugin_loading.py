"""Loading ``pydapr.testing``: cheap, inert, and reachable both by ``-p`` and by its entry point.

pytest loads the plugin in every run where pydapr is installed, this project's own included, so
importing it must not import the Dapr SDK or the sidecar, nor start anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# The exact line pyproject.toml gets under [project.entry-points.pytest11]: named as the module, so
# `-p pydapr.testing` finds it already loaded rather than registering it twice.
ENTRY_POINT = "pydapr.testing = pydapr.testing"


def _python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout


def test_importing_the_plugin_imports_neither_the_sdk_nor_the_sidecar_and_starts_nothing() -> None:
    out = _python(
        # pytest itself is loaded when pytest loads the plugin: only what the plugin adds counts.
        "import json, os, sys, pytest\n"
        "from pathlib import Path\n"
        "before = set(sys.modules)\n"
        "import pydapr.testing, pydapr.testing.plugin\n"
        "new = sorted(set(sys.modules) - before)\n"
        "me = str(os.getpid())\n"
        "def parent(p):\n"
        "    try:\n"  # another process on the machine may exit between listing /proc and reading it
        "        return (p / 'stat').read_text().rsplit(')', 1)[1].split()[1]\n"
        "    except (FileNotFoundError, ProcessLookupError):\n"
        "        return None\n"
        "children = [p.name for p in Path('/proc').iterdir() if p.name.isdigit() and parent(p) == me]\n"
        "print(json.dumps({'new': new, 'children': children}))\n"
    )
    loaded = json.loads(out)
    heavy = [
        m
        for m in loaded["new"]
        if m.split(".")[0] in {"dapr", "grpc", "google", "asyncio", "subprocess"}
        or m.startswith(("pydapr.sidecar", "pydapr.cli", "pydapr.testing.sidecar"))
    ]
    assert heavy == []
    assert loaded["children"] == []


@pytest.fixture
def installed_entry_point(tmp_path: Path) -> dict[str, str]:
    """An environment where a distribution declares ENTRY_POINT, as an installed pydapr will."""
    dist = tmp_path / "site" / "pydapr_entry_point-0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: pydapr-entry-point\nVersion: 0\n")
    (dist / "entry_points.txt").write_text(f"[pytest11]\n{ENTRY_POINT}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path / "site"), env.get("PYTHONPATH")]))
    return env


def _fixtures(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--fixtures", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=cwd,
        check=False,
    )


@pytest.mark.parametrize("args", [(), ("-p", "pydapr.testing")], ids=["entry point", "entry point and -p"])
def test_the_entry_point_loads_the_fixtures_and_p_does_not_load_them_twice(
    installed_entry_point: dict[str, str], tmp_path: Path, args: tuple[str, ...]
) -> None:
    result = _fixtures(installed_entry_point, tmp_path, *args)

    assert result.returncode == 0, result.stdout + result.stderr
    listed = {line.split()[0] for line in result.stdout.splitlines() if " -- " in line}
    assert {
        "dapr_client",
        "dapr_sidecar",
        "dapr_app",
        "dapr_sidecar_config",
        "dapr_sidecar_factory",
    } <= listed
    assert "fixtures defined from pydapr.testing.plugin" in result.stdout
    assert "--pydapr-resources" in _help(installed_entry_point, tmp_path)


def test_p_no_pydapr_testing_turns_the_installed_plugin_off(
    installed_entry_point: dict[str, str], tmp_path: Path
) -> None:
    result = _fixtures(installed_entry_point, tmp_path, "-p", "no:pydapr.testing")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "dapr_client" not in result.stdout
    assert "--pydapr-resources" not in _help(installed_entry_point, tmp_path, "-p", "no:pydapr.testing")


def _help(env: dict[str, str], cwd: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=cwd,
        check=True,
    )
    return result.stdout
