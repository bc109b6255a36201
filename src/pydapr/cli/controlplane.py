"""``pydapr control-plane``: the local control plane (scheduler; placement and sentry later).

``pydapr run`` starts it on demand; these commands start, inspect and stop it by hand.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from pydapr.controlplane import ControlPlane

HOME_OPTION = click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="pydapr home holding the control plane's state and logs (default: $PYDAPR_HOME or ~/.pydapr).",
)


def _describe(cp: ControlPlane) -> str:
    services = ", ".join(f"{name} {addr}" for name, addr in cp.addresses.items())
    return f"control plane running (pid {cp.pid}): {services}"


@click.group("control-plane")
def command() -> None:
    """The local control plane: one background process hosting the scheduler."""


@command.command("serve")
@HOME_OPTION
@click.option("--detach", is_flag=True, hidden=True, help="Fork, and exit once the child listens.")
@click.option("--scheduler-port", type=int, default=50006, show_default=True,
              help="Scheduler port; any free port when it is taken.")  # fmt: skip
@click.option("--log-level", default="info", show_default=True)
def serve(home: Path | None, detach: bool, scheduler_port: int, log_level: str) -> None:
    """Run the control plane in the foreground (start runs it in the background)."""
    # Fork first, while this process has no thread: nothing below has started one yet.
    ready = None
    if detach:
        from pydapr.controlplane.serve import detach as fork_detached

        ready = fork_detached()
    from pydapr.controlplane.serve import serve as serve_forever
    from pydapr.controlplane.services import default_services
    from pydapr.controlplane.state import ControlPlaneError
    from pydapr.home import pydapr_home

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    home = (home or pydapr_home()).expanduser().absolute()
    try:
        import uvloop

        uvloop.run(serve_forever(home, default_services(home, scheduler_port=scheduler_port), ready))
    except (ControlPlaneError, OSError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        pass


@command.command("start")
@HOME_OPTION
@click.option("--timeout", type=float, default=20.0, show_default=True)
def start(home: Path | None, timeout: float) -> None:
    """Start the control plane in the background unless it is running."""
    from pydapr.controlplane import ControlPlaneError, ensure_running

    try:
        cp = ensure_running(home, timeout=timeout)
    except ControlPlaneError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(_describe(cp))


@command.command("stop")
@HOME_OPTION
def stop(home: Path | None) -> None:
    """Stop the control plane."""
    from pydapr.controlplane import stop as stop_control_plane

    click.echo("control plane stopped" if stop_control_plane(home) else "no control plane running")


@command.command("status")
@HOME_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the state as JSON (null when not running).")
def status(home: Path | None, as_json: bool) -> None:
    """Show the running control plane; exit status 1 when none runs."""
    from pydapr.controlplane import status as control_plane_status

    cp = control_plane_status(home)
    if as_json:
        click.echo(json.dumps(cp.to_json() if cp else None))
    else:
        click.echo(_describe(cp) if cp else "no control plane running")
    sys.exit(0 if cp else 1)


if __name__ == "__main__":
    command()
