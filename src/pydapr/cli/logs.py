"""``pydapr logs``: prints the log file of an app started by ``pydapr run -f`` (or of its sidecar).

``dapr logs`` reads a Kubernetes pod's logs; on this machine the logs of a run file's apps are the
files ``pydapr run -f`` writes, ``<appDirPath>/.dapr/logs/<app-id>_{app,daprd}_<time>.log``. The
file is the one the running sidecar's metadata names (``appLogPath``/``daprdLogPath``), or, when the
app is not running or names none, the newest such file of the app in the run file's folders.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from pydapr.cli.process import Console


@click.command(name="logs")
@click.option("--app-id", "-a", required=True, help="The application id for which logs are needed")
@click.option("--run-file", "-f", default="", help="The run file (or its folder) that started the app")
@click.option("--sidecar", "-s", is_flag=True, help="The sidecar's log instead of the app's")
def command(app_id: str, run_file: str, sidecar: bool) -> None:
    """Print the log file of an app of a run file (or, with --sidecar, of its sidecar)."""
    console = Console()
    kind = "daprd" if sidecar else "app"
    template = _run_file_path(run_file, console) if run_file else None
    path = _from_metadata(app_id, template, sidecar) or (
        _from_run_file(app_id, template, run_file, kind, console) if template else None
    )
    if path is None:
        where = f" in {run_file}" if run_file else " (give its run file with --run-file)"
        console.failure(f"no {kind} log file found for app id {app_id}{where}")
        sys.exit(1)
    try:
        with Path(path).open("rb") as f:
            while chunk := f.read(65536):
                sys.stdout.buffer.write(chunk)
    except OSError as exc:
        console.failure(f"could not read {path}: {exc.strerror or exc}")
        sys.exit(1)
    sys.stdout.flush()


def _run_file_path(value: str, console: Console) -> str:
    from pydapr.cli.runfile import RunFileError, find_run_file

    try:
        return os.path.abspath(find_run_file(value))
    except RunFileError as exc:
        console.failure(f"Failed to get run file path: {exc}")
        sys.exit(1)


def _from_metadata(app_id: str, template: str | None, sidecar: bool) -> str | None:
    """The file the running sidecar of ``app_id`` (of that run file, if given) names."""
    from pydapr.cli.instances import running_instances

    for inst in running_instances():
        if inst.app_id != app_id or (template is not None and inst.run_template_path != template):
            continue
        path = inst.daprd_log_path if sidecar else inst.app_log_path
        if path and Path(path).is_file():
            return path
    return None


def _from_run_file(app_id: str, template: str, given: str, kind: str, console: Console) -> str | None:
    """The newest log file of ``app_id`` in its folder of the run file (running or not)."""
    from pydapr.cli.runfile import RunFileError, load_run_file

    try:
        parsed = load_run_file(template)
    except RunFileError as exc:
        console.failure(f"Error getting apps from config file: {exc}")
        sys.exit(1)
    for app in parsed.apps:
        if app.config.app_id == app_id:
            candidates = sorted(app.logs_dir.glob(f"{app_id}_{kind}_*.log"), key=lambda p: p.stat().st_mtime)
            return str(candidates[-1]) if candidates else None
    console.failure(f"app id {app_id} is not in {given}")
    sys.exit(1)
