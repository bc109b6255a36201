"""``pydapr invoke``: calls a method of a running app through its sidecar, as ``dapr invoke`` does
(``POST /v1.0/invoke/<app-id>/method/<method>`` on the sidecar that ``pydapr list`` shows for it)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click

from pydapr.cli.process import Console


def read_payload(data: str, data_file: str, what: str, console: Console) -> bytes:
    """``--data`` or ``--data-file`` (not both), with dapr's messages; exits 1 on a bad pair or file."""
    if data and data_file:
        console.failure(f"Only one of --data and --data-file allowed in the same {what} command")
        sys.exit(1)
    if data_file:
        try:
            return Path(data_file).read_bytes()
        except OSError as exc:
            console.failure(f"Error reading payload from '{data_file}'. Error: {exc.strerror or exc}")
            sys.exit(1)
    return data.encode()


@click.command(name="invoke")
@click.option("--app-id", "-a", required=True, help="The application id to invoke")
@click.option("--method", "-m", required=True, help="The method to invoke")
@click.option("--data", "-d", default="", help="The JSON serialized data string (optional)")
@click.option("--verb", "-v", default="POST", show_default=True, help="The HTTP verb to use")
@click.option("--data-file", "-f", default="", help="A file containing the JSON serialized data (optional)")
@click.option(
    "--unix-domain-socket",
    "-u",
    default="",
    help="Path to a unix domain socket dir. If specified, Dapr API servers will use Unix Domain Sockets",
)
def command(app_id: str, method: str, data: str, verb: str, data_file: str, unix_domain_socket: str) -> None:
    """Invoke a method on a given Dapr application."""
    from pydapr.cli.instances import running_instances, sidecar_call

    console = Console()
    payload = read_payload(data, data_file, "invoke", console)
    if unix_domain_socket:
        console.warning("Unix domain sockets are currently a preview feature")
    target = next((inst for inst in running_instances() if inst.app_id == app_id), None)
    if target is None:
        console.failure(f"error invoking app {app_id}: app ID {app_id} not found")
        sys.exit(1)
    if unix_domain_socket:
        target = replace(target, unix_domain_socket=unix_domain_socket)
    try:
        response = sidecar_call(
            target,
            verb.upper(),
            f"/v1.0/invoke/{app_id}/method/{method.lstrip('/')}",
            payload,
            {"Content-Type": "application/json"},
            timeout=60.0,
        )
    except OSError as exc:
        console.failure(f"error invoking app {app_id}: {exc}")
        sys.exit(1)
    if response.status < 200 or response.status >= 400:
        console.failure(f"error invoking app {app_id}: {response.status} {response.reason}".rstrip())
        sys.exit(1)
    if response.body:
        click.echo(response.body.decode(errors="replace"))
    console.success("App invoked successfully")
