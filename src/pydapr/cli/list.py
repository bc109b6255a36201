"""``pydapr list``: the sidecars running on this machine, as ``dapr list`` shows them."""

from __future__ import annotations

import click

from pydapr.cli.output import check_format, detail, output_option, table

FORMATS = ("table", "json", "yaml")
# dapr's table: ListOutput's csv columns (metricsEnabled, the sizes and runTemplateName are JSON-only).
COLUMNS = [
    ("APP ID", "appId"),
    ("HTTP PORT", "httpPort"),
    ("GRPC PORT", "grpcPort"),
    ("APP PORT", "appPort"),
    ("COMMAND", "command"),
    ("AGE", "age"),
    ("CREATED", "created"),
    ("DAPRD PID", "daprdPid"),
    ("CLI PID", "cliPid"),
    ("APP PID", "appPid"),
    ("RUN_TEMPLATE_PATH", "runTemplatePath"),
    ("APP_LOG_PATH", "appLogPath"),
    ("DAPRD_LOG_PATH", "daprdLogPath"),
]


@click.command(name="list")
@output_option(FORMATS, "The output format of the list: json, yaml, or table (default)")
def command(output: str) -> None:
    """List all Dapr instances running on this machine (sidecars of pydapr run, run -f, sidecar)."""
    fmt = check_format(output, FORMATS)
    from pydapr.cli.instances import running_instances

    rows = [inst.to_output() for inst in running_instances()]
    if fmt in ("json", "yaml"):
        click.echo(detail(rows, fmt), nl=False)
        return
    if not rows:
        click.echo("No Dapr instances found.")
        return
    click.echo(table([c for c, _ in COLUMNS], [[str(r[k]) for _, k in COLUMNS] for r in rows]), nl=False)
