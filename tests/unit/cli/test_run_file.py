"""The ``-f`` run file: dapr's template format, merging, path precedence, bad files with exact messages."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pydapr.cli.runfile import RunFileError, find_run_file, load_run_file, parse_run_file


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("PYDAPR_HOME", str(path))
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """dapr's own test layout: webapp/ and backend/ (with a .dapr folder), common resources."""
    root = tmp_path / "proj"
    (root / "app" / "resources").mkdir(parents=True)
    (root / "webapp" / "resources").mkdir(parents=True)
    write(root / "webapp" / "config.yaml", "kind: Configuration\n")
    (root / "backend" / ".dapr" / "resources").mkdir(parents=True)
    write(root / "backend" / ".dapr" / "config.yaml", "kind: Configuration\n")
    return root


DAPR_SAMPLE = """
    version: 1
    common:
      resourcesPath: ./app/resources
      appProtocol: HTTP
      appHealthProbeTimeout: 10
      env:
        DEBUG: false
        tty: sts
    apps:
      - appDirPath: ./webapp/
        resourcesPath: ./resources
        configFilePath: ./config.yaml
        appPort: 8080
        appHealthProbeTimeout: 1
        command: ["python3", "app.py"]
      - appID: backend
        appDirPath: ./backend/
        appProtocol: GRPC
        appPort: 3000
        unixDomainSocket: /tmp/test-socket
        env:
          DEBUG: true
        command: ["./backend"]
    """


def test_dapr_sample_file(tree: Path) -> None:
    run_file = load_run_file(str(write(tree / "dapr.yaml", DAPR_SAMPLE)))
    assert run_file.warnings == []
    web, backend = (app.config for app in run_file.apps)
    assert web.app_id == "webapp"  # the folder's name
    assert web.work_dir == tree / "webapp"
    assert web.app_port == 8080 and web.app_protocol == "http"
    assert web.resources_paths == [tree / "webapp" / "resources"]
    assert web.config_file == tree / "webapp" / "config.yaml"
    assert web.app_health_probe_timeout == 1  # the app's own value wins
    assert web.env == {"DEBUG": "false", "tty": "sts"}  # YAML scalars as written
    assert web.command == ["python3", "app.py"]
    assert backend.app_id == "backend" and backend.app_protocol == "grpc"
    assert backend.app_health_probe_timeout == 10  # from common
    assert backend.env == {"DEBUG": "true", "tty": "sts"}  # the app's env wins over common's
    # <appDirPath>/.dapr/ comes before common's resources and the home defaults.
    assert backend.resources_paths == [tree / "backend" / ".dapr" / "resources"]
    assert backend.config_file == tree / "backend" / ".dapr" / "config.yaml"
    assert backend.unix_domain_socket == Path("/tmp/test-socket")
    assert run_file.apps[0].app_log_destination == "fileAndConsole"
    assert run_file.apps[0].logs_dir == tree / "webapp" / ".dapr" / "logs"


def test_common_and_home_defaults(tree: Path, home: Path) -> None:
    (home / "components").mkdir()
    write(home / "config.yaml", "kind: Configuration\n")
    path = write(
        tree / "dapr.yaml",
        """
        version: 1
        common:
          resourcesPaths: [./app/resources]
        apps:
          - appDirPath: ./webapp/
          - appDirPath: ./backend/
        """,
    )
    web, _ = (app.config for app in load_run_file(str(path)).apps)
    assert web.resources_paths == [tree / "app" / "resources"]  # common, as webapp has no .dapr/
    assert web.config_file == home / "config.yaml"  # the home default when nothing else is given
    path.write_text("version: 1\napps:\n  - appDirPath: ./webapp/\n")
    (web_only,) = (app.config for app in load_run_file(str(path)).apps)
    assert web_only.resources_paths == [home / "components"]


def test_all_settings_reach_the_run_config(tree: Path) -> None:
    path = write(
        tree / "dapr.yaml",
        """
        version: 1
        name: shop
        common:
          logLevel: debug
          enableApiLogging: true
          maxBodySize: 16Mi
          placementHostAddress: ""
          daprdLogDestination: console
        apps:
          - appDirPath: webapp
            appID: web
            appChannelAddress: 0.0.0.0
            daprHTTPPort: 3600
            daprGRPCPort: 50100
            daprInternalGRPCPort: 50101
            metricsPort: 9191
            appMaxConcurrency: 2
            enableAppHealthCheck: yes
            appHealthCheckPath: /health
            appHealthProbeInterval: 3
            appHealthThreshold: 5
            schedulerHostAddress: sched
            apiListenAddresses: 127.0.0.1
            appLogDestination: file
            containerImage: ghcr.io/x/web:latest
        """,
    )
    run_file = load_run_file(str(path))
    assert run_file.name == "shop"
    app = run_file.apps[0]
    cfg = app.config
    assert (cfg.app_id, cfg.app_channel_address) == ("web", "0.0.0.0")
    assert (cfg.dapr_http_port, cfg.dapr_grpc_port, cfg.dapr_internal_grpc_port) == (3600, 50100, 50101)
    assert cfg.metrics_port == 9191 and cfg.app_max_concurrency == 2
    assert cfg.log_level == "debug" and cfg.enable_api_logging and cfg.max_body_size == "16Mi"
    assert cfg.enable_app_health_check and cfg.app_health_check_path == "/health"
    assert (cfg.app_health_probe_interval, cfg.app_health_threshold) == (3, 5)
    assert cfg.placement_host_address == "" and cfg.scheduler_host_address == "sched"
    assert cfg.dapr_listen_addresses == "127.0.0.1"
    assert (app.daprd_log_destination, app.app_log_destination) == ("console", "file")
    assert cfg.command == []


def test_unknown_fields_are_ignored_with_a_warning(tree: Path) -> None:
    path = write(tree / "dapr.yaml", "version: 1\napps:\n  - appDirPath: webapp\n    appPorts: 1\n")
    assert load_run_file(str(path)).warnings == ["unknown field 'appPorts' in app 1 (line 4) is ignored"]


def test_stdin(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree)
    run_file = load_run_file("-", read_stdin=lambda: "version: 1\napps:\n  - appDirPath: ./webapp\n")
    assert run_file.apps[0].app_dir == tree / "webapp"


# -- finding the file ------------------------------------------------------------------------------


def test_find_run_file(tree: Path) -> None:
    write(tree / "dapr.yaml", "version: 1\n")
    assert find_run_file(str(tree)) == str(tree / "dapr.yaml")
    assert find_run_file(str(tree / "dapr.yaml")) == str(tree / "dapr.yaml")
    assert find_run_file("-") == "-"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.yaml", "error getting file info for {root}/missing.yaml: no such file or directory"),
        ("webapp", 'error in validating the file path "{root}/webapp/dapr.yaml": error in getting the file '
                   "info for {root}/webapp/dapr.yaml: no such file or directory"),
        ("webapp/config.txt", 'file "{root}/webapp/config.txt" is not a YAML file'),
    ],
)  # fmt: skip
def test_find_run_file_errors(tree: Path, name: str, message: str) -> None:
    write(tree / "webapp" / "config.txt", "x")
    with pytest.raises(RunFileError) as err:
        find_run_file(str(tree / name))
    assert str(err.value) == message.format(root=tree)


# -- bad files -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("apps: []\n", "required field 'version' not found in the provided run template file"),
        ("version: 0\n", "required field 'version' not found in the provided run template file"),
        ("", "required field 'version' not found in the provided run template file"),
        ("version: 1\napps:\n  - appID: a\n",
         "required field 'appDirPath' not found in the provided app config file"),
        ("version: 1\napps:\n  - appDirPath: ./nowhere/\n",
         "error in getting the file info for {root}/nowhere: no such file or directory"),
        ("version: 1\ncommon:\n  resourcesPaths: [./gone]\n",
         "error in getting the file info for {root}/gone: no such file or directory"),
        ("version: 1\napps:\n  - appDirPath: webapp\n    configFilePath: ./nope.yaml\n",
         "error in getting the file info for {root}/webapp/nope.yaml: no such file or directory"),
        ("version: one\n",
         "error in parsing the provided app config file: line 1: version: expected an integer, got 'one'"),
        ("version: 1\napps:\n  - appDirPath: webapp\n    appPort: http\n",
         "error in parsing the provided app config file: line 4: appPort: expected an integer, got 'http'"),
        ("version: 1\napps:\n  - appDirPath: webapp\n    command: python app.py\n",
         "error in parsing the provided app config file: line 4: command: expected a list of strings, "
         "like [\"python3\", \"app.py\"], got 'python app.py'"),
        ("version: 1\napps:\n  - appDirPath: webapp\n    enableApiLogging: maybe\n",
         "error in parsing the provided app config file: line 4: enableApiLogging: expected true or false, "
         "got 'maybe'"),
        ("version: 1\ncommon:\n  env: [A]\n",
         "error in parsing the provided app config file: line 3: env: expected a mapping of names to values, "
         "got 'sequence'"),
        ("version: 1\napps:\n  appDirPath: webapp\n",
         "error in parsing the provided app config file: line 3: apps: expected a list of apps, "
         "got 'mapping'"),
        ("version: 1\napps:\n  - appDirPath: webapp\n    appLogDestination: printer\n",
         "invalid log destination type: printer"),
        ("version: 1\napps:\n  - appDirPath: webapp\n    containerImagePullPolicy: Sometimes\n",
         "invalid containerImagePullPolicy: Sometimes, allowed values: Always, Never, IfNotPresent"),
        ("version: 1\napps:\n  - appDirPath: webapp\n  - appDirPath: ./webapp/\n",
         'duplicate app id "webapp" in the provided run template file (apps 1 and 2)'),
        ("- version: 1\n",
         "error in parsing the provided app config file: line 1: the run file: expected a mapping, "
         "got 'sequence'"),
    ],
)  # fmt: skip
def test_bad_files(tree: Path, text: str, message: str) -> None:
    with pytest.raises(RunFileError) as err:
        parse_run_file(text, tree)
    assert str(err.value) == message.format(root=tree)


def test_yaml_syntax_error_names_the_place(tree: Path) -> None:
    with pytest.raises(RunFileError) as err:
        parse_run_file("version: 1\napps: [\n", tree)
    message = str(err.value)
    assert message.startswith("error in parsing the provided app config file: ")
    assert "line 3" in message


def test_log_files_and_their_paths_in_the_metadata_as_dapr_run_f(tmp_path: Path) -> None:
    """``<appDirPath>/.dapr/logs/<id>_app_<time>.log`` and ``<id>_daprd_<time>.log``, their absolute
    paths as appLogPath/daprdLogPath; no app log for an app without a command, none for console."""
    import contextlib
    import re

    from pydapr.cli.ports import PortAllocator
    from pydapr.cli.process import Console
    from pydapr.cli.run import _app_runs

    for name in ("web", "solo", "loud"):
        (tmp_path / name).mkdir()
    path = write(
        tmp_path / "dapr.yaml",
        """
        version: 1
        apps:
          - appDirPath: web
            command: ["python3", "app.py"]
          - appDirPath: solo
          - appDirPath: loud
            appLogDestination: console
            daprdLogDestination: console
            command: ["python3", "app.py"]
        """,
    )
    run_file = load_run_file(str(path))
    with contextlib.ExitStack() as files:
        runs = {r.cfg.app_id: r for r in _app_runs(run_file, str(path), Console(), files, PortAllocator())}
    logs = tmp_path / "web" / ".dapr" / "logs"
    web = runs["web"].metadata
    assert re.fullmatch(rf"{logs}/web_app_\d{{14}}\.log", web["appLogPath"])
    assert re.fullmatch(rf"{logs}/web_daprd_\d{{14}}\.log", web["daprdLogPath"])
    assert sorted(p.name.split("_")[1] for p in logs.iterdir()) == ["app", "daprd"]
    assert web["runTemplatePath"] == str(path.resolve())
    assert "appLogPath" not in runs["solo"].metadata
    assert [p.name.split("_")[1] for p in (tmp_path / "solo" / ".dapr" / "logs").iterdir()] == ["daprd"]
    assert {"appLogPath", "daprdLogPath"}.isdisjoint(runs["loud"].metadata)
    assert not (tmp_path / "loud" / ".dapr").exists()
