"""The sidecar process: event loop, signals, startup errors as one line and a non-zero exit."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from pydapr.observability.logs import configure_logging
from pydapr.sidecar.options import SidecarOptions

log = logging.getLogger("pydapr.runtime")


async def _serve(options: SidecarOptions) -> int:
    from pydapr.sidecar.runtime import Runtime, StartupError

    runtime = Runtime(options)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, runtime.request_shutdown)
    try:
        await runtime.start()
    except StartupError as exc:
        print(f"pydapr sidecar: fatal: {exc}", file=sys.stderr, flush=True)
        await runtime.stop()
        return 1
    await runtime.wait_for_shutdown()
    log.info("shutting down (graceful period %gs)", options.dapr_graceful_shutdown_seconds)
    await runtime.stop()
    log.info("sidecar stopped")
    return 0


def run_sidecar(options: SidecarOptions) -> int:
    configure_logging(options.app_id, options.log_level, options.log_as_json)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; keep running without it
        return asyncio.run(_serve(options))
    return uvloop.run(_serve(options))
