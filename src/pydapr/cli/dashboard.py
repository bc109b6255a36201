"""``pydapr dashboard``: serve the live dashboard (``pydapr.dashboard``) until Ctrl-C.

Flags and messages as ``dapr dashboard`` in self-hosted mode (dapr/cli cmd/dashboard.go): ``-p`` the
port (default 8080, 0 for any free one), ``-a`` the address (an IP or localhost), ``-v`` the version.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import sys

import click

from pydapr.cli.process import Console

DEFAULT_PORT = 8080  # dapr dashboard's


def _legal_address(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return False
    return True


async def _serve(address: str, port: int, console: Console) -> int:
    from pydapr.dashboard.collect import Collector
    from pydapr.dashboard.server import start
    from pydapr.home import pydapr_home

    # localhost is bound as 127.0.0.1: one listener, the address the sidecars' own APIs use.
    host = "127.0.0.1" if address == "localhost" else address.strip("[]")
    collector = Collector(pydapr_home())
    try:
        server = await start(collector, host, port)
    except OSError as exc:
        await collector.close()
        console.failure(f'Please select a different port with "-p" flag: {exc}')
        console.info("You can also use port 0 to select a random free port.")
        return 1
    shown = address if ":" not in host else f"[{host}]"
    console.info(f"pydapr dashboard available at: http://{shown}:{server.port}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.shutdown(1.0)
        await collector.close()
    return 0


@click.command("dashboard")
@click.option("-p", "--port", type=int, default=DEFAULT_PORT, show_default=True,
              help="The local port on which to serve the dashboard (0: a free port)")  # fmt: skip
@click.option("-a", "--address", default="localhost", show_default=True,
              help="Address to listen on. Only accepts IP address or localhost as a value")  # fmt: skip
@click.option("-v", "--version", "show_version", is_flag=True, help="Print the version of the dashboard")
def command(port: int, address: str, show_version: bool) -> None:
    """Start the dashboard: a live web page of the running apps, their sidecars and the control plane.

    \b
    Examples:
      pydapr dashboard            # on http://localhost:8080
      pydapr dashboard -p 9999
      pydapr dashboard -p 0       # on a free port
    """
    console = Console()
    if show_version:
        from importlib.metadata import version

        click.echo(version("pydapr"))  # the dashboard ships with, and is versioned as, pydapr
        return
    if not _legal_address(address):
        console.emit("failure", f"Invalid address: {address}", console.out)
        sys.exit(1)
    if port < 0:
        console.failure(f"Invalid port: {port}")
        sys.exit(1)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import uvloop

    code = 0
    with contextlib.suppress(KeyboardInterrupt):
        code = uvloop.run(_serve(address, port, console))
    sys.exit(code)
