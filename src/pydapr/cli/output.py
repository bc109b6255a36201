"""What the inspection commands print: dapr's tables, its ``-o json|yaml`` documents, and a spinner
for the commands that wait (only on a terminal, without colour when ``NO_COLOR`` is set)."""

from __future__ import annotations

import itertools
import json
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

import click

INVALID_FORMAT = "An invalid output format was specified."


def output_option(
    choices: Sequence[str], help_text: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``-o/--output``; an unknown value is dapr's "invalid output format" failure (exit 1), not
    click's usage error, so scripts see what dapr gives them."""
    return click.option("--output", "-o", "output", default="", help=help_text, metavar="|".join(choices))


def check_format(value: str, choices: Sequence[str]) -> str:
    fmt = value.lower()
    if fmt and fmt not in choices:
        from pydapr.cli.process import Console  # imports asyncio: only on this path

        Console().failure(INVALID_FORMAT)
        sys.exit(1)
    return fmt


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns as dapr's ``utils.WriteTable`` lays them out: a column that is blank in every row is
    left out, each cell is padded to its column's width with a space either side, lines start at
    their first character. Trailing spaces are dropped (dapr keeps them; nobody sees them)."""
    keep = [c for c in range(len(header)) if any(str(row[c]).strip() for row in rows)]
    if not keep:
        keep = list(range(len(header)))
    # tablewriter's header formatting: upper case, "_" as a space.
    head = [header[c].replace("_", " ").upper() for c in keep]
    body = [[str(row[c]) for c in keep] for row in rows]
    widths = [max(len(cells[i]) for cells in [head, *body]) for i in range(len(keep))]
    lines = []
    for cells in [head, *body]:
        line = "".join(f" {cell.ljust(width)} " for cell, width in zip(cells, widths, strict=True))
        lines.append(line.strip())
    return "\n".join(lines) + "\n"


def detail(value: Any, fmt: str) -> str:
    """``-o json`` (two-space indent, as Go's MarshalIndent) or ``-o yaml``, with a final newline."""
    if fmt == "json":
        return json.dumps(value, indent=2, ensure_ascii=False) + "\n"
    import yaml

    text: str = yaml.safe_dump(value, sort_keys=False, default_flow_style=False, allow_unicode=True)
    return text


def interactive(stream: TextIO | None = None) -> bool:
    """Whether to draw progress: a terminal, and no ``NO_COLOR`` (https://no-color.org)."""
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)()) and not os.environ.get("NO_COLOR")


@contextmanager
def spinner(message: str, stream: TextIO | None = None) -> Iterator[None]:
    """A spinner beside ``message`` while the block runs, erased after it; nothing off a terminal,
    where the block's own lines are the whole output."""
    out = stream or sys.stdout
    if not interactive(out):
        yield
        return
    done = threading.Event()

    def spin() -> None:
        for frame in itertools.cycle("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"):
            out.write(f"\r\033[36m{frame}\033[0m  {message}")
            out.flush()
            if done.wait(0.1):
                break
        out.write("\r\033[2K")
        out.flush()

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(1.0)
