"""``pydapr init``: writes the default resources so apps run with no setup (no Docker, no Redis),
and starts the local control plane (sentry, placement, scheduler) as ``dapr init`` starts its
placement and scheduler containers.

Like ``dapr init`` it creates a ``statestore`` and a ``pubsub`` component and a default
Configuration, under the pydapr home; unlike it, they are embedded (SQLite files), and existing
files are never overwritten. ``--slim`` writes the files only (``dapr init --slim`` leaves out the
services too); ``--from-dir`` takes the resources from a folder instead of the built-in ones.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pydapr import DAPR_COMPAT_VERSION
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
            "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: daprConfig\nspec: {}\n"
        ),
    }


def files_from_dir(folder: Path) -> dict[Path, str]:
    """The resources of ``folder`` as the home's files: its ``config.yaml`` as the Configuration, the
    YAML files of its ``components/`` folder (or, without one, its other YAML files) as resources."""
    components = folder / "components" if (folder / "components").is_dir() else folder
    files = {}
    for source in sorted([*components.glob("*.yaml"), *components.glob("*.yml")]):
        if source.name not in ("config.yaml", "config.yml"):
            files[default_resources_dir() / source.name] = source.read_text()
    for name in ("config.yaml", "config.yml"):
        if (folder / name).is_file():
            files[default_config_file()] = (folder / name).read_text()
            break
    return files


def initialise(from_dir: Path | None = None) -> list[tuple[Path, bool]]:
    """Write the default files that are missing; returns (path, written) for each."""
    home = pydapr_home()
    results = []
    files = files_from_dir(from_dir) if from_dir is not None else default_files(home)
    for path, text in files.items():
        if path.exists():
            results.append((path, False))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        results.append((path, True))
    return results


@click.command(name="init")
@click.option(
    "--slim", "-s", is_flag=True, help="Write the resources only; do not start the local control plane"
)
@click.option(
    "--from-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Take the resources (components/*.yaml, config.yaml) from this folder instead of the defaults",
)
@click.option(
    "--runtime-version",
    default="latest",
    show_default=True,
    help=f"The Dapr runtime version; pydapr has one ({DAPR_COMPAT_VERSION})",
)
def command(slim: bool, from_dir: Path | None, runtime_version: str) -> None:
    """Create the default resources (embedded state store and pub/sub) under the pydapr home and
    start the local control plane (sentry, placement, scheduler)."""
    from pydapr.cli.process import Console

    console = Console()
    wanted = runtime_version.removeprefix("v")
    if wanted not in ("latest", DAPR_COMPAT_VERSION):
        console.warning(
            f"pydapr has one runtime, which implements Dapr {DAPR_COMPAT_VERSION}; "
            f"--runtime-version {runtime_version} is not installed"
        )
    if from_dir is not None and not from_dir.is_dir():
        console.failure(f"--from-dir: {from_dir} is not a folder")
        sys.exit(1)
    try:
        results = initialise(from_dir)
    except OSError as exc:
        console.failure(f"could not write the resources: {exc}")
        sys.exit(1)
    for path, written in results:
        click.echo(f"{'created' if written else 'kept existing'}: {path}")
    click.echo(f"Runtime version: {DAPR_COMPAT_VERSION}")
    if not slim:
        from pydapr.cli.output import spinner
        from pydapr.controlplane import ControlPlaneError, ensure_running

        try:
            with spinner("Starting the local control plane (sentry, placement, scheduler)..."):
                cp = ensure_running()
        except ControlPlaneError as exc:
            console.failure(f"The local control plane did not start: {exc}")
            sys.exit(1)
        where = ", ".join(f"{name} {address}" for name, address in cp.addresses.items())
        console.info(f"The local control plane is running (pid {cp.pid}): {where}")
    click.echo("pydapr is initialised: apps run with `pydapr run` and use 'statestore' and 'pubsub'.")
