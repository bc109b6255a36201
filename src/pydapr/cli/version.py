"""``pydapr version``: the CLI's and the runtime's versions, printed as ``dapr version`` prints them.

The CLI version is pydapr's own; the runtime version is the Dapr release whose APIs the sidecar
follows (what its metadata API reports as ``runtimeVersion``): pydapr has one runtime, in-process.
"""

from __future__ import annotations

import json

import click

from pydapr import DAPR_COMPAT_VERSION, __version__
from pydapr.cli.output import check_format, output_option


def versions() -> dict[str, str]:
    return {"Cli version": __version__, "Runtime version": DAPR_COMPAT_VERSION}


@click.command(name="version")
@output_option(("json",), "The output format of the version command. Valid values are: json.")
def command(output: str) -> None:
    """Print the pydapr CLI version and the Dapr runtime version it implements."""
    fmt = check_format(output, ("json",))
    v = versions()
    if fmt == "json":
        click.echo(json.dumps(v, separators=(",", ":")))  # Go's json.Marshal: compact
        return
    # dapr's template, its space before the newline included.
    click.echo(f"CLI version: {v['Cli version']} \nRuntime version: {v['Runtime version']}")
