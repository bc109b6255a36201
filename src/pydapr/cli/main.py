"""Entry point of the ``pydapr`` command; subcommands are imported only when invoked."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import click

# name -> "module:attribute" of a click command; imported lazily so `pydapr run` stays quick to start.
COMMANDS = {
    "run": "pydapr.cli.run:command",
    "sidecar": "pydapr.cli.sidecar:command",
    "init": "pydapr.cli.init:command",
    "scheduler": "pydapr.cli.scheduler:command",
    "control-plane": "pydapr.cli.controlplane:command",
    "placement": "pydapr.cli.placement:command",
    "sentry": "pydapr.cli.sentry:command",
    "list": "pydapr.cli.list:command",
    "stop": "pydapr.cli.stop:command",
    "uninstall": "pydapr.cli.uninstall:command",
    "status": "pydapr.cli.status:command",
    "version": "pydapr.cli.version:command",
    "invoke": "pydapr.cli.invoke:command",
    "publish": "pydapr.cli.publish:command",
    "logs": "pydapr.cli.logs:command",
    "completion": "pydapr.cli.completion:command",
    "dashboard": "pydapr.cli.dashboard:command",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if _available(name))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None or not _available(cmd_name):
            return None
        module_name, _, attr = target.partition(":")
        command: click.Command = getattr(importlib.import_module(module_name), attr)
        return command


def _available(name: str) -> bool:
    module_name = COMMANDS[name].partition(":")[0]
    return importlib.util.find_spec(module_name) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pydapr")
def main(**_: Any) -> None:
    """pydapr: Dapr, the Distributed Application Runtime, in Python."""


if __name__ == "__main__":
    main()
