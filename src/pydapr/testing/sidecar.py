"""Start a real ``pydapr sidecar`` (and optionally its app) for a test; stop both, whatever happens.

``start_sidecar`` is a context manager: on entry the sidecar runs on free ports with its own pydapr
home in ``workdir`` (so its name registry and embedded stores never mix with another run's), and
is ready (``GET /v1.0/healthz/outbound`` answers 204); with an app, the app runs too and the
sidecar has found it (``GET /v1.0/healthz`` answers 204: app port open, subscriptions read). On
exit the app, then the sidecar, get SIGTERM and, past a bound, SIGKILL.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydapr.testing import components
from pydapr.testing._config import App, SidecarConfig
from pydapr.testing.ports import PortPicker
from pydapr.testing.process import Child
from pydapr.testing.sdk import pointed_at

if TYPE_CHECKING:
    from dapr.aio.clients import DaprClient as AsyncDaprClient
    from dapr.clients import DaprClient

# The sidecar drains for --dapr-graceful-shutdown-seconds (5 s by default) and ends itself 3 s
# after that at the latest; the app gets what `dapr run` gives it.
SIDECAR_STOP_GRACE = 10.0
APP_STOP_GRACE = 5.0
# A port picked free may be taken by someone else before the sidecar binds it: try new ones.
PORT_ATTEMPTS = 3
# Between two readiness probes: a refused connection costs microseconds, so probe often.
PROBE_INTERVAL = 0.01


class SidecarStartError(RuntimeError):
    """The sidecar or its app did not become ready; the message carries their logs."""


@dataclass
class Sidecar:
    """A running test sidecar: where to reach it, and its logs."""

    app_id: str
    http_port: int
    grpc_port: int
    metrics_port: int
    home: Path
    resources: tuple[Path, ...]
    process: Child
    app_port: int | None = None
    app_process: Child | None = field(default=None)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def log(self) -> str:
        return self.process.log()

    def app_log(self) -> str:
        return self.app_process.log() if self.app_process is not None else ""

    def sdk_settings(self) -> contextlib.AbstractContextManager[None]:
        """Points the Dapr SDK's settings in this process at this sidecar, for the ``with`` block."""
        return pointed_at(self.http_port, self.grpc_port)

    def client(self) -> DaprClient:
        """A ``dapr.clients.DaprClient`` on this sidecar's gRPC port; the caller closes it.

        Its HTTP method invocation reads the SDK's settings on every call: keep them pointed here
        (``sdk_settings``, as the ``dapr_client`` fixture does) while using it.
        """
        from dapr.clients import DaprClient

        # The constructor probes the sidecar's health at the address in the SDK's settings.
        with self.sdk_settings():
            return DaprClient(self.grpc_address)

    def async_client(self) -> AsyncDaprClient:
        """A ``dapr.aio.clients.DaprClient`` on this sidecar, for ``async with`` in an async test."""
        from dapr.aio.clients import DaprClient as AsyncDaprClient

        with self.sdk_settings():
            return AsyncDaprClient(self.grpc_address)


@contextlib.contextmanager
def start_sidecar(
    config: SidecarConfig, workdir: Path, ports: PortPicker | None = None, home: Path | None = None
) -> Iterator[Sidecar]:
    """Runs a sidecar per ``config`` until the block ends; ``workdir`` holds its logs and, unless
    ``home`` names one, its pydapr home. Sidecars that share a home find each other by app id
    (service invocation); sidecars with their own never meet."""
    ports = ports or PortPicker()
    workdir.mkdir(parents=True, exist_ok=True)
    home = home or workdir / "home"
    home.mkdir(parents=True, exist_ok=True)
    resources = tuple(Path(p).resolve() for p in config.resources) or (
        components.write_defaults(workdir / "components"),
    )
    with contextlib.ExitStack() as stack:
        sidecar = _start_sidecar_process(config, workdir, home, resources, ports, stack)
        if config.app is not None:
            sidecar.app_process = _start_app(config.app, sidecar, workdir)
            stack.callback(sidecar.app_process.stop, APP_STOP_GRACE)
            _wait_ready(sidecar, "/v1.0/healthz", config.startup_timeout)
        yield sidecar


def _start_sidecar_process(
    config: SidecarConfig,
    workdir: Path,
    home: Path,
    resources: tuple[Path, ...],
    ports: PortPicker,
    stack: contextlib.ExitStack,
) -> Sidecar:
    env = {**os.environ, "PYDAPR_HOME": str(home), "PYTHONUNBUFFERED": "1", **config.env}
    for attempt in range(1, PORT_ATTEMPTS + 1):
        http_port, grpc_port, metrics_port = ports.pick(), ports.pick(), ports.pick()
        app_port = None
        if config.app is not None:
            app_port = config.app.port or ports.pick()
        argv = [
            sys.executable,
            "-m",
            "pydapr",
            "sidecar",
            "--app-id",
            config.app_id,
            "--dapr-http-port",
            str(http_port),
            "--dapr-grpc-port",
            str(grpc_port),
            "--metrics-port",
            str(metrics_port),
        ]
        for folder in resources:
            argv += ["--resources-path", str(folder)]
        if config.config is not None:
            argv += ["--config", str(Path(config.config).resolve())]
        if config.app is not None:
            argv += ["--app-port", str(app_port), "--app-protocol", config.app.protocol]
        argv += list(config.args)
        # As under `dapr run`, the sidecar runs where the app does: relative paths in components
        # (a secrets file, a SQLite database) mean the same to both.
        cwd = config.app.cwd if config.app is not None else None
        process = Child("sidecar", argv, log_path=workdir / "sidecar.log", env=env, cwd=cwd)
        stack.callback(process.stop, SIDECAR_STOP_GRACE)
        sidecar = Sidecar(
            app_id=config.app_id,
            http_port=http_port,
            grpc_port=grpc_port,
            metrics_port=metrics_port,
            home=home,
            resources=resources,
            process=process,
            app_port=app_port,
        )
        try:
            _wait_ready(sidecar, "/v1.0/healthz/outbound", config.startup_timeout)
        except SidecarStartError:
            if attempt < PORT_ATTEMPTS and "address already in use" in sidecar.log():
                continue  # it has exited; its stop callback just reaps it
            raise
        return sidecar
    raise AssertionError("unreachable")  # pragma: no cover


def _start_app(app: App, sidecar: Sidecar, workdir: Path) -> Child:
    port = str(sidecar.app_port)
    argv = [part.replace("{app_port}", port) for part in app.command]
    env = {
        **os.environ,
        # What `pydapr run` (and `dapr run`) give an app.
        "APP_ID": sidecar.app_id,
        "APP_CHANNEL_ADDRESS": "127.0.0.1",
        "APP_PORT": port,
        "APP_PROTOCOL": app.protocol,
        "DAPR_HTTP_PORT": str(sidecar.http_port),
        "DAPR_GRPC_PORT": str(sidecar.grpc_port),
        "DAPR_METRICS_PORT": str(sidecar.metrics_port),
        "PYTHONUNBUFFERED": "1",
        **app.env,
    }
    try:
        return Child("app", argv, log_path=workdir / "app.log", env=env, cwd=app.cwd)
    except OSError as exc:
        raise SidecarStartError(f"cannot start the app {argv!r}: {exc}") from exc


def _wait_ready(sidecar: Sidecar, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        for child in (sidecar.process, sidecar.app_process):
            if child is not None and not child.alive:
                raise SidecarStartError(_failure(sidecar, f"the {child.name} exited ({child.returncode})"))
        if _status(sidecar.http_port, path) == 204:
            return
        if time.monotonic() > deadline:
            raise SidecarStartError(_failure(sidecar, f"GET {path} did not answer 204 within {timeout:g}s"))
        time.sleep(PROBE_INTERVAL)


def _status(port: int, path: str) -> int | None:
    # http.client rather than urllib: no proxy from the environment may stand between us and it.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def _failure(sidecar: Sidecar, what: str) -> str:
    text = f"test sidecar {sidecar.app_id!r} not ready: {what}\n--- sidecar log ---\n{sidecar.log()}"
    if sidecar.app_process is not None:
        text += f"\n--- app log ---\n{sidecar.app_log()}"
    return text
