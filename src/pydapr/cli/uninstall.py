"""``pydapr uninstall [--all]``: undoes ``pydapr init``, as ``dapr uninstall`` does.

pydapr installs no binaries and runs no containers: what ``dapr uninstall`` removes by default has
as its counterpart the local control plane, which is stopped. ``--all`` also removes the pydapr home
(``$PYDAPR_HOME``: default resources, embedded stores, scheduler jobs, certificates, logs), as dapr
removes ``~/.dapr``; nothing outside it is touched, and a folder that does not look like a pydapr
home (the user's home folder, say, named by mistake) is refused rather than removed.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click

from pydapr.cli.output import spinner
from pydapr.cli.process import Console

# Any of these marks a folder as a pydapr home (written by init, the control plane or a sidecar).
MARKERS = ("components", "config.yaml", "control-plane.lock", "control-plane.json", "registry", "scheduler")


@click.command(name="uninstall")
@click.option(
    "--all", "remove_all", is_flag=True, help="Also remove the pydapr home: resources, stores, jobs, logs"
)
def command(remove_all: bool) -> None:
    """Stop the local control plane; with --all, remove the pydapr home ($PYDAPR_HOME) too."""
    from pydapr.controlplane import ControlPlaneError, stop
    from pydapr.controlplane.state import pid_alive, read_state
    from pydapr.home import pydapr_home

    console = Console()
    home = pydapr_home().expanduser().absolute()
    console.info("Removing Dapr from your machine...")
    errors = []
    cp = read_state(home) if home.is_dir() else None
    if cp is not None and pid_alive(cp.pid):
        console.info(f"Stopping the local control plane (pid {cp.pid})")
        try:
            with spinner("Stopping the local control plane..."):
                stop(home)
        except ControlPlaneError as exc:
            errors.append(f"could not stop the local control plane: {exc}")
    else:
        console.warning("WARNING: the local control plane is not running")
    if remove_all and not errors:
        error = _remove_home(home, console)
        if error:
            errors.append(error)
    if errors:
        console.failure("Error removing Dapr: " + "; ".join(errors))
        sys.exit(1)
    console.success("Dapr has been removed successfully")


def _remove_home(home: Path, console: Console) -> str | None:
    if not home.exists():
        console.warning(f"WARNING: {home} does not exist")
        return None
    if home in (Path("/"), Path.home().absolute()) or not any((home / m).exists() for m in MARKERS):
        return f"{home} does not look like a pydapr home; not removing it"
    from pydapr.cli.instances import running_instances

    running = running_instances(home)
    if running:
        ids = ", ".join(sorted({inst.app_id for inst in running}))
        console.warning(f"WARNING: sidecars still run from this home and lose their files: {ids}")
    console.info(f"Removing directory: {home}")
    try:
        shutil.rmtree(home)
    except OSError as exc:
        return f"could not delete {home}: {exc}"
    return None
