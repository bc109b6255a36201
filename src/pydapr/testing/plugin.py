"""The pytest fixtures and hooks of ``pydapr.testing``.

Loaded in every pytest run where pydapr is installed, so importing it does nothing but define them:
the sidecar code (and the Dapr SDK) is imported by a fixture when a test first asks for one, and a
process starts only then. Options and ini keys all start with ``pydapr`` so they clash with nobody's.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import pytest

from pydapr.testing._config import DEFAULT_APP_ID, DEFAULT_STARTUP_TIMEOUT, App, SidecarConfig

if TYPE_CHECKING:
    from dapr.clients import DaprClient

    from pydapr.testing.ports import PortPicker
    from pydapr.testing.sidecar import Sidecar

_SCOPES = ("session", "module")
# The last lines of a log a failing test's report shows; the whole log stays in the file.
_LOG_TAIL_LINES = 60


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pydapr", "pydapr test sidecar (pydapr.testing)")
    group.addoption(
        "--pydapr-resources",
        action="append",
        default=None,
        metavar="DIR",
        help="folder of component YAML for the test sidecar (repeatable; default: in-memory "
        "statestore and pubsub)",
    )
    group.addoption(
        "--pydapr-scope",
        choices=_SCOPES,
        default=None,
        help="one test sidecar per session (default) or per module",
    )
    parser.addini(
        "pydapr_resources",
        type="paths",
        default=[],
        help="folders of component YAML for the test sidecar, relative to the ini file",
    )
    parser.addini("pydapr_scope", default="session", help="session (default) or module")
    parser.addini("pydapr_app_id", default=DEFAULT_APP_ID, help="the test sidecar's app id")
    parser.addini(
        "pydapr_startup_timeout",
        default=str(DEFAULT_STARTUP_TIMEOUT),
        help="seconds the test sidecar and its app may take to become ready",
    )


def pytest_configure(config: pytest.Config) -> None:
    # A wrong value fails the run at once rather than at the first test that uses a sidecar.
    _scope("dapr_sidecar", config)
    _startup_timeout(config)


def _scope(fixture_name: str, config: pytest.Config) -> Literal["session", "module"]:
    scope = config.getoption("pydapr_scope") or config.getini("pydapr_scope")
    if scope not in _SCOPES:
        raise pytest.UsageError(f"pydapr_scope must be session or module, not {scope!r}")
    return cast(Literal["session", "module"], scope)


def _startup_timeout(config: pytest.Config) -> float:
    value = config.getini("pydapr_startup_timeout")
    try:
        return float(value)
    except ValueError:
        raise pytest.UsageError(
            f"pydapr_startup_timeout must be a number of seconds, not {value!r}"
        ) from None


@pytest.fixture(scope="session")
def _pydapr_ports(tmp_path_factory: pytest.TempPathFactory) -> PortPicker:
    from pydapr.testing.ports import PortPicker

    record = None
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # Each xdist worker's base temp dir is a folder of the controller's: the parent is shared
        # by every worker of this run, and only theirs.
        record = tmp_path_factory.getbasetemp().parent / "pydapr-ports"
    return PortPicker(record)


@pytest.fixture(scope=_scope)
def dapr_app() -> App | None:
    """The app to start beside ``dapr_sidecar``: none by default. Override it in a conftest.py
    (at session scope) to return an ``App``."""
    return None


@pytest.fixture(scope=_scope)
def dapr_sidecar_config(request: pytest.FixtureRequest, dapr_app: App | None) -> SidecarConfig:
    """What ``dapr_sidecar`` starts, from the options and ini keys; override it for full control."""
    config = request.config
    resources: list[Path] = [Path(p) for p in config.getoption("pydapr_resources") or []]
    if not resources:
        resources = list(config.getini("pydapr_resources"))
    return SidecarConfig(
        app_id=config.getini("pydapr_app_id"),
        resources=resources,
        app=dapr_app,
        startup_timeout=_startup_timeout(config),
    )


@pytest.fixture(scope=_scope)
def dapr_sidecar(
    dapr_sidecar_config: SidecarConfig,
    tmp_path_factory: pytest.TempPathFactory,
    _pydapr_ports: PortPicker,
) -> Iterator[Sidecar]:
    """A ready sidecar (and its app, if ``dapr_app`` names one) for the session or module."""
    from pydapr.testing.sidecar import start_sidecar

    workdir = tmp_path_factory.mktemp("pydapr-sidecar")
    with start_sidecar(dapr_sidecar_config, workdir, _pydapr_ports) as sidecar:
        yield sidecar


@pytest.fixture
def dapr_client(dapr_sidecar: Sidecar) -> Iterator[DaprClient]:
    """A ready ``dapr.clients.DaprClient`` on ``dapr_sidecar``, closed after the test.

    For the test, the SDK's settings point at the sidecar too, so a ``DaprClient()`` the code under
    test creates itself reaches it as well.
    """
    with dapr_sidecar.sdk_settings():
        client = dapr_sidecar.client()
        try:
            yield client
        finally:
            client.close()  # type: ignore[no-untyped-call]


@pytest.fixture
def dapr_sidecar_factory(
    tmp_path_factory: pytest.TempPathFactory, _pydapr_ports: PortPicker
) -> Iterator[Callable[..., Sidecar]]:
    """Starts more sidecars for one test: ``dapr_sidecar_factory(app_id="b", app=App(...))`` takes
    ``SidecarConfig``'s fields (or ``config=SidecarConfig(...)``); all of them end with the test.

    They share one pydapr home, so they call each other by app id; ``dapr_sidecar`` is not among
    them (it has a home of its own)."""
    from pydapr.testing.sidecar import start_sidecar

    home = tmp_path_factory.mktemp("pydapr-home")
    with contextlib.ExitStack() as stack:

        def start(config: SidecarConfig | None = None, **fields: Any) -> Sidecar:
            config = config or SidecarConfig(**fields)
            workdir = tmp_path_factory.mktemp(f"pydapr-sidecar-{config.app_id}")
            return stack.enter_context(start_sidecar(config, workdir, _pydapr_ports, home))

        yield start


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    sidecar = getattr(item, "funcargs", {}).get("dapr_sidecar")
    if report.failed and sidecar is not None:
        # What the sidecar and the app said is often why a test failed.
        report.sections.append(("pydapr sidecar log (tail)", _tail(sidecar.log())))
        if sidecar.app_process is not None:
            report.sections.append(("pydapr app log (tail)", _tail(sidecar.app_log())))
    return report


def _tail(text: str) -> str:
    return "\n".join(text.splitlines()[-_LOG_TAIL_LINES:])
