"""``pydapr status``: the local control plane's services and their health, in the layout of
``dapr status -k`` (which, in Dapr, exists for Kubernetes only)."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import click

from pydapr.cli.output import check_format, detail, output_option, table

FORMATS = ("table", "json", "yaml")
ORDER = ("sentry", "placement", "scheduler")
COLUMNS = [
    ("NAME", "name"),
    ("HEALTHY", "healthy"),
    ("STATUS", "status"),
    ("ADDRESS", "address"),
    ("VERSION", "version"),
    ("AGE", "age"),
    ("CREATED", "created"),
]


def services() -> list[dict[str, Any]] | None:
    """One row per service of the running control plane; None when none runs for the pydapr home."""
    from pydapr import DAPR_COMPAT_VERSION
    from pydapr.cli.instances import age
    from pydapr.controlplane.state import accepts, pid_alive, read_state
    from pydapr.home import pydapr_home

    cp = read_state(pydapr_home().expanduser().absolute())
    if cp is None or not pid_alive(cp.pid):
        return None
    try:
        started = datetime.fromisoformat(cp.started_at).timestamp()
    except ValueError:
        started = None
    rows = []
    names = sorted(cp.addresses, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
    for name in names:
        healthy = accepts(cp.addresses[name], timeout=0.5)
        rows.append(
            {
                "name": name,
                "healthy": "True" if healthy else "False",
                "status": "Running" if healthy else "Not responding",
                "address": cp.addresses[name],
                "version": DAPR_COMPAT_VERSION,
                "age": age(started) if started is not None else "",
                "created": (
                    datetime.fromtimestamp(started).strftime("%Y-%m-%d %H:%M.%S")
                    if started is not None
                    else ""
                ),
                "pid": cp.pid,
            }
        )
    return rows


@click.command(name="status")
@output_option(FORMATS, "The output format: json, yaml, or table (default)")
def command(output: str) -> None:
    """Show the health of the local control plane's services (sentry, placement, scheduler)."""
    fmt = check_format(output, FORMATS)
    rows = services()
    if rows is None:
        from pydapr.cli.process import Console
        from pydapr.home import pydapr_home

        Console().failure(
            f"The local control plane is not running for {pydapr_home()}. "
            "Start it with `pydapr init` (or any `pydapr run`)."
        )
        sys.exit(1)
    if fmt in ("json", "yaml"):
        click.echo(detail(rows, fmt), nl=False)
        return
    click.echo(table([c for c, _ in COLUMNS], [[str(r[k]) for _, k in COLUMNS] for r in rows]), nl=False)
