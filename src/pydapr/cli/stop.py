"""``pydapr stop``: ends apps started by ``pydapr run`` (or bare sidecars), as ``dapr stop`` does.

An app is stopped through its runner (the CLI pid in its sidecar's metadata) when that runner runs
only this app, so the runner stops the app and then the sidecar in order; otherwise (a bare
``pydapr sidecar``, or one app of several run together) its sidecar gets SIGTERM, and the app's
process group too (dapr leaves that app running). ``-f`` sends
SIGTERM to the runner of every app started from that run file. Unlike dapr, the command then waits
until the processes are gone, so that when it returns nothing of the app is left.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections import Counter

import click

from pydapr.cli.instances import Instance, running_instances
from pydapr.cli.output import spinner
from pydapr.cli.process import Console

# The runner gives the app 5 s and the sidecar 10 s to stop before it kills them; a margin on top.
WAIT_SECONDS = 20.0


@click.command(name="stop")
@click.option(
    "--app-id", "-a", "app_ids", multiple=True, help="The application id to be stopped (repeatable)"
)
@click.option(
    "--run-file", "-f", default="", help="Path to the run template file for the list of apps to stop"
)
@click.argument("more_ids", nargs=-1, metavar="[APP_ID]...")
def command(app_ids: tuple[str, ...], run_file: str, more_ids: tuple[str, ...]) -> None:
    """Stop Dapr instances and their associated apps: pydapr stop --app-id ID [--app-id ID2], or -f."""
    console = Console()
    if run_file:
        sys.exit(_stop_run_file(run_file, console))
    ids = [*app_ids, *more_ids]
    apps = running_instances()
    per_cli = Counter(app.cli_pid for app in apps)
    waiting: list[tuple[str, list[int]]] = []
    for app_id in ids:
        match = next((app for app in apps if app.app_id == app_id), None)
        if match is None:
            console.failure(f"failed to stop app id {app_id}: couldn't find app id {app_id}")
            continue
        apps.remove(match)  # the same id twice stops two instances, as two `dapr stop` calls would
        if match.cli_pid == 0 or per_cli[match.cli_pid] > 1:
            target = match.daprd_pid
            per_cli[match.cli_pid] -= 1
        else:
            target = match.cli_pid
        try:
            if target == match.daprd_pid and match.app_pid:
                # One app of a runner's several: dapr ends only its daprd and leaves the app running;
                # its process group goes first here, so nothing of the app is left.
                _terminate_app(match.app_pid)
            os.kill(target, signal.SIGTERM)
        except ProcessLookupError:
            pass  # it ended meanwhile: what was asked for
        except OSError as exc:
            console.failure(f"failed to stop app id {app_id}: {exc}")
            continue
        waiting.append((app_id, _pids(match, target)))
    _wait_and_report(waiting, console)


def _terminate_app(pid: int) -> None:
    """SIGTERM to the app: its whole group when it leads one (``pydapr run`` starts it so)."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGTERM)
            return
    except ProcessLookupError:
        return
    os.kill(pid, signal.SIGTERM)


def _pids(app: Instance, target: int) -> list[int]:
    """The processes that must be gone for the app to count as stopped."""
    return sorted({target, app.daprd_pid, *([app.app_pid] if app.app_pid else [])})


def _wait_and_report(waiting: list[tuple[str, list[int]]], console: Console) -> None:
    for app_id, pids in waiting:
        with spinner(f"Stopping app {app_id}..."):
            left = _wait_gone(pids, WAIT_SECONDS)
        if left:
            console.warning(f"app {app_id} still has processes running after {WAIT_SECONDS:g}s: {left}")
        console.success(f"app stopped successfully: {app_id}")


def _stop_run_file(value: str, console: Console) -> int:
    from pydapr.cli.runfile import RunFileError, find_run_file

    try:
        path = find_run_file(value)
    except RunFileError as exc:
        console.failure(f"Failed to get run file path: {exc}")
        return 1
    template = os.path.abspath(path)
    apps = [app for app in running_instances() if app.run_template_path == template and app.cli_pid]
    if not apps:
        console.failure(
            f'Failed to stop Dapr and app processes: couldn\'t find apps with run file "{template}"'
        )
        return 0  # dapr reports it and exits 0
    pids: set[int] = set()
    for cli_pid in sorted({app.cli_pid for app in apps}):
        try:
            os.kill(cli_pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    for app in apps:
        pids.update(p for p in (app.cli_pid, app.daprd_pid, app.app_pid) if p)
    with spinner(f"Stopping the apps of {template}..."):
        left = _wait_gone(sorted(pids), WAIT_SECONDS)
    if left:
        console.warning(f"processes still running after {WAIT_SECONDS:g}s: {left}")
    console.success("Dapr and app processes stopped successfully")
    return 0


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Waits until none of ``pids`` runs (zombies count as gone); returns those still running."""
    from pydapr.controlplane.state import pid_alive

    deadline = time.monotonic() + timeout
    while True:
        left = [pid for pid in pids if pid_alive(pid)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)
