"""``pydapr init``: writes the default resources so apps run with no setup (no Docker, no Redis).

Like ``dapr init`` it creates a ``statestore`` and a ``pubsub`` component and a default
Configuration, under the pydapr home; unlike it, they are embedded (SQLite files), and existing
files are never overwritten.
"""

from __future__ import annotations

from pathlib import Path

import click

from pydapr.home import default_config_file, default_resources_dir, pydapr_home


def default_files(home: Path) -> dict[Path, str]:
    resources = default_resources_dir()
    return {
        resources / "statestore.yaml": (
            "apiVersion: dapr.io/v1alpha1\n"
            "kind: Component\n"
            "metadata:\n"
            "  name: statestore\n"
            "spec:\n"
            "  type: state.sqlite\n"
            "  version: v1\n"
            "  metadata:\n"
            "  - name: connectionString\n"
            f'    value: "{home / "state.db"}"\n'
            "  - name: actorStateStore\n"
            '    value: "true"\n'
        ),
        resources / "pubsub.yaml": (
            "apiVersion: dapr.io/v1alpha1\n"
            "kind: Component\n"
            "metadata:\n"
            "  name: pubsub\n"
            "spec:\n"
            "  type: pubsub.pydapr-sqlite\n"
            "  version: v1\n"
            "  metadata:\n"
            "  - name: path\n"
            f'    value: "{home / "pubsub.db"}"\n'
        ),
        default_config_file(): (
            "apiVersion: dapr.io/v1alpha1\n"
            "kind: Configuration\n"
            "metadata:\n"
            "  name: daprConfig\n"
            "spec: {}\n"
        ),
    }


def initialise() -> list[tuple[Path, bool]]:
    """Write the default files that are missing; returns (path, written) for each."""
    home = pydapr_home()
    results = []
    for path, text in default_files(home).items():
        if path.exists():
            results.append((path, False))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        results.append((path, True))
    return results


@click.command(name="init")
def command() -> None:
    """Create the default resources (embedded state store and pub/sub) under the pydapr home."""
    for path, written in initialise():
        click.echo(f"{'created' if written else 'kept existing'}: {path}")
    click.echo("pydapr is initialised: apps run with `pydapr run` and use 'statestore' and 'pubsub'.")
