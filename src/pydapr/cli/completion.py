"""``pydapr completion bash|zsh|fish``: prints the shell's completion script (click's, driven by
``_PYDAPR_COMPLETE``), for the user to source or install as ``dapr completion`` does."""

from __future__ import annotations

import click

SHELLS = ("bash", "zsh", "fish")
EXAMPLES = """\b
Examples:
  # bash, this shell only / every new shell
  source <(pydapr completion bash)
  pydapr completion bash > ~/.local/share/bash-completion/completions/pydapr
  # zsh (a folder of your $fpath)
  pydapr completion zsh > "${fpath[1]}/_pydapr"
  # fish
  pydapr completion fish > ~/.config/fish/completions/pydapr.fish
"""


@click.command(name="completion", epilog=EXAMPLES)
@click.argument("shell", type=click.Choice(SHELLS))
def command(shell: str) -> None:
    """Generate the shell completion script for bash, zsh or fish."""
    from click.shell_completion import get_completion_class

    from pydapr.cli.main import main

    cls = get_completion_class(shell)
    assert cls is not None  # every name in SHELLS has one in click
    script = cls(main, {}, "pydapr", "_PYDAPR_COMPLETE").source()
    click.echo(script)
