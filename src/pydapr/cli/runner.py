"""Runs apps beside their sidecars: start in order, watch, stop in order, report as ``dapr run`` does."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Coroutine
from typing import Any

from pydapr.cli.ports import PortAllocator, PortError
from pydapr.cli.process import Child, Console, LineSink, exit_description, http_request, spawn
from pydapr.cli.runconfig import PORT_USES, RunConfig, repick_taken_ports
from pydapr.security import tokens

# dapr's CLI gives the app 5 s between SIGTERM and SIGKILL.
APP_STOP_GRACE = 5.0
# The sidecar drains for --dapr-graceful-shutdown-seconds (5 s by default); a margin on top.
SIDECAR_STOP_GRACE = 5.0 + 5.0
# How long dapr's CLI waits for the sidecar before carrying on with a warning.
SIDECAR_READY_TIMEOUT = 60.0
# Exit codes of a process that ended because we asked it to (by signal, or 128 + signal by a shell).
_STOPPED_CODES = {0, -signal.SIGTERM, -signal.SIGKILL, 128 + signal.SIGTERM, 128 + signal.SIGKILL}


class AppRun:
    """One app and its sidecar; ``failed`` ends up True if either of them failed."""

    def __init__(
        self,
        cfg: RunConfig,
        console: Console,
        *,
        sidecar_sink: LineSink | None = None,
        app_sink: LineSink | None = None,
        metadata: dict[str, str] | None = None,
        ports: PortAllocator | None = None,
    ) -> None:
        self.cfg = cfg
        self.console = console
        self.sidecar_sink = sidecar_sink
        self.app_sink = app_sink
        self.metadata = metadata or {}
        # Every port of the run, so that a port chosen again for this app is nobody else's.
        self.ports = ports or PortAllocator(
            {cfg.app_port, cfg.dapr_http_port, cfg.dapr_grpc_port, cfg.metrics_port} - {0, -1}
        )
        self.sidecar: Child | None = None
        self.app: Child | None = None
        self.failed = False
        self._reported: set[str] = set()

    # -- start ------------------------------------------------------------------------------------

    async def start(self, stop: asyncio.Event) -> bool:
        """Sidecar, its outbound health, then the app; False if a start failed or a stop came first."""
        cfg = self.cfg
        retried = False
        while True:
            self.sidecar = await spawn(
                "Dapr",
                cfg.sidecar_argv(),
                env=cfg.sidecar_env(os.environ),
                cwd=cfg.work_dir,
                sink=self.sidecar_sink,
            )
            outcome = await self._wait_ready(stop)
            # Not after a stop: a sidecar killed by a second Ctrl-C lost no port.
            if outcome != "exited" or retried or stop.is_set():
                break
            await self.sidecar.drain()  # its last lines (the bind error) before ours
            if not self._ports_lost():
                break
            retried = True  # once: a second loss is no race but a crowded machine, and is reported
        if outcome == "exited":
            assert self.sidecar.returncode is not None
            self._report_sidecar(self.sidecar.returncode)
            return False
        if outcome == "stopped":
            return False
        if outcome == "timeout":
            self._say("warning", "Dapr sidecar might not be responding.", self.sidecar_sink)
        else:
            self._say("info", "Dapr sidecar is up and running.", self.sidecar_sink)
        if cfg.command:
            try:
                self.app = await spawn(
                    "App",
                    cfg.command,
                    env=cfg.app_env(os.environ),
                    cwd=cfg.work_dir,
                    sink=self.app_sink,
                    # Single-app mode hands the terminal to the app, as dapr does.
                    stdin_inherit=self.app_sink is None,
                )
            except OSError as exc:
                self._say("failure", f"Error starting app process: {exc}", self.app_sink)
                self.failed = True
                return False
        await self._put_metadata()
        return True

    def _ports_lost(self) -> bool:
        """After the sidecar failed at start: whether another process took ports pydapr had picked
        for it (then they are replaced and True is returned, to start the sidecar once more)."""
        assert self.sidecar is not None
        try:
            changes = repick_taken_ports(self.cfg, self.ports)
        except PortError:
            return False
        if not changes:
            return False
        for attr, old, new in changes:
            self._say(
                "warning",
                f"Port {old} for {PORT_USES[attr]} was taken by another process before Dapr listened "
                f"on it; starting Dapr again with port {new}",
                self.sidecar_sink,
            )
        self._say("info", self.cfg.start_line(), self.sidecar_sink)
        return True

    async def _wait_ready(self, stop: asyncio.Event) -> str:
        assert self.sidecar is not None
        cfg = self.cfg
        where = cfg.socket_path("http") or f"port {cfg.dapr_http_port}"
        self._say("info", f"Checking if Dapr sidecar is listening on HTTP {where}", self.sidecar_sink)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SIDECAR_READY_TIMEOUT
        while True:
            if self.sidecar.returncode is not None:
                return "exited"
            if stop.is_set():
                return "stopped"
            if await self._request("GET", "/v1.0/healthz/outbound", timeout=1.0) == 204:
                return "ready"
            if loop.time() > deadline:
                return "timeout"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.05)

    async def _request(self, method: str, path: str, body: bytes = b"", timeout: float = 2.0) -> int | None:
        headers = {"Content-Type": "text/plain"} if body else {}
        try:
            token = tokens.dapr_api_token()
        except tokens.TokenFileError:
            token = None  # the sidecar stops at startup, naming the file

        if token:
            headers["dapr-api-token"] = token
        uds = self.cfg.socket_path("http")
        return await http_request(
            method,
            path,
            host=self.cfg.api_host(),
            port=self.cfg.dapr_http_port,
            unix_path=str(uds) if uds is not None else None,
            body=body,
            headers=headers,
            timeout=timeout,
        )

    async def _put_metadata(self) -> None:
        # What `dapr list` and `dapr stop` read back from each sidecar's metadata.
        values = {"cliPID": str(os.getpid()), **self.metadata}
        if self.app is not None:
            values["appPID"] = str(self.app.pid)
            values["appCommand"] = " ".join(self.cfg.command)
        for key, value in values.items():
            status = await self._request("PUT", f"/v1.0/metadata/{key}", value.encode())
            if status is None or status >= 300:
                self._say(
                    "warning",
                    f"Could not update sidecar metadata for {key}: status {status}",
                    self.sidecar_sink,
                )

    # -- watch and stop ---------------------------------------------------------------------------

    def exit_watchers(self) -> list[asyncio.Task[None]]:
        """Tasks that end when the app or the sidecar exits, reporting an exit nobody asked for."""
        tasks = []
        if self.app is not None:
            tasks.append(asyncio.create_task(self._watch(self.app, self._report_app)))
        if self.sidecar is not None:
            tasks.append(asyncio.create_task(self._watch(self.sidecar, self._report_sidecar)))
        return tasks

    @staticmethod
    async def _watch(child: Child, report: Callable[[int], None]) -> None:
        code = await child.wait()
        await child.drain()
        if not child.stop_requested:
            report(code)

    async def stop_app(self) -> None:
        if self.app is not None:
            self._report_app(await self.app.stop(APP_STOP_GRACE))

    async def stop_sidecar(self) -> None:
        if self.sidecar is not None:
            self._report_sidecar(await self.sidecar.stop(SIDECAR_STOP_GRACE))
        for api in ("http", "grpc"):
            path = self.cfg.socket_path(api)
            if path is not None:
                with contextlib.suppress(OSError):
                    path.unlink()

    def kill(self) -> None:
        for child in (self.app, self.sidecar):
            if child is not None:
                child.kill()

    def _report_app(self, code: int) -> None:
        assert self.app is not None
        if "app" in self._reported:
            return
        self._reported.add("app")
        # SIGTERM from outside (`pydapr stop -a` on one app of a run, a process manager) is a
        # request to stop, not a crash.
        if code in (0, -signal.SIGTERM) or (self.app.stop_requested and code in _STOPPED_CODES):
            self._say("success", "Exited App successfully", self.app_sink)
        else:
            self.failed = True
            self._say("failure", f"The App process {exit_description(code)}", self.app_sink)

    def _report_sidecar(self, code: int) -> None:
        assert self.sidecar is not None
        if "sidecar" in self._reported:
            return
        self._reported.add("sidecar")
        if code == 0 or (self.sidecar.stop_requested and code in _STOPPED_CODES):
            self._say("success", "Exited Dapr successfully", self.sidecar_sink)
        else:
            self.failed = True
            self._say("failure", f"The daprd process {exit_description(code)}", self.sidecar_sink)

    def _say(self, status: str, message: str, sink: LineSink | None) -> None:
        if sink is None:
            self.console.emit(status, message)
        else:
            sink.write(self.console.format(status, message, sink.console or self.console.out))


class Signals:
    """SIGINT/SIGTERM set ``stop``; a second one runs ``force`` (kill now) for an impatient user."""

    def __init__(self, stop: asyncio.Event, force: Callable[[], None]) -> None:
        self.stop = stop
        self.force = force
        self.count = 0

    def _on_signal(self) -> None:
        self.count += 1
        if self.count > 1:
            self.force()
        self.stop.set()

    def __enter__(self) -> Signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal)
        return self

    def __exit__(self, *_: object) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def first_completed(*aws: Coroutine[Any, Any, Any] | asyncio.Future[Any]) -> None:
    """Wait until one of ``aws`` is done, then cancel the rest."""
    tasks = [a if isinstance(a, asyncio.Future) else asyncio.create_task(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def run_single(cfg: RunConfig, console: Console, ports: PortAllocator | None = None) -> int:
    """``pydapr run`` with one app: ends when the app or the sidecar exits, or on SIGINT/SIGTERM."""
    stop = asyncio.Event()
    run = AppRun(cfg, console, ports=ports)
    with Signals(stop, run.kill):
        try:
            console.info(cfg.start_line())
            if await run.start(stop):
                if cfg.command:
                    console.success("You're up and running! Both Dapr and your app logs will appear here.")
                else:
                    console.success("You're up and running! Dapr logs will appear here.")
                await first_completed(stop.wait(), *run.exit_watchers())
            if stop.is_set():
                console.info("terminated signal received: shutting down")
            await run.stop_app()
            await run.stop_sidecar()
        finally:
            run.kill()  # only reached with processes alive if something above raised
    return 1 if run.failed else 0


async def run_many(runs: list[AppRun], console: Console, on_started: Callable[[AppRun], None]) -> int:
    """``pydapr run -f``: start every app at once, each after its sidecar; one success line when all
    are up; run until a signal or until every process has exited; then stop them all.

    The sidecars start side by side (a run file's apps are independent until they call each other),
    so the run is up in about one sidecar's start time, not the sum of them. A failed start stops
    the starts still under way and the whole run, as dapr's sequential start does.
    """
    abort = asyncio.Event()  # a signal, or a start that failed
    start_failed = False

    def kill_all() -> None:
        for run in runs:
            run.kill()

    async def start(run: AppRun) -> None:
        nonlocal start_failed
        if await run.start(abort):
            on_started(run)
        elif not abort.is_set():
            console.failure(f'Error starting Dapr and app ("{run.cfg.app_id}")')
            start_failed = True
            abort.set()

    with Signals(abort, kill_all) as signals:
        try:
            for run in runs:
                console.info(f'Validating config and starting app "{run.cfg.app_id}"')
                console.info(run.cfg.start_line())
            await asyncio.gather(*(start(run) for run in runs))
            if not abort.is_set():
                # Printed once every sidecar is ready and every app started: what a person or a
                # harness waits for means the whole run, as with a single `pydapr run`.
                if any(run.cfg.command for run in runs):
                    console.success("You're up and running! Both Dapr and your app logs will appear here.")
                else:
                    console.success("You're up and running! Dapr logs will appear here.")
                watchers = [task for run in runs for task in run.exit_watchers()]
                await first_completed(abort.wait(), asyncio.gather(*watchers))
            if signals.count:
                console.info(
                    "Received signal to stop Dapr and app processes. Shutting down Dapr and app processes."
                )
            # Apps first, all at once; then their sidecars, which the apps may use until they exit.
            await asyncio.gather(*(run.stop_app() for run in runs))
            await asyncio.gather(*(run.stop_sidecar() for run in runs))
        finally:
            kill_all()
    return 1 if start_failed or any(run.failed for run in runs) else 0
