"""The sidecars running on this machine, as ``dapr list`` sees them: found without scanning processes.

Each sidecar writes ``<PYDAPR_HOME>/registry/<namespace>/<app-id>/<pid>.json`` once it serves (see
``pydapr.nameresolution.local``). The entry gives the pid and the HTTP and gRPC ports; the rest of
what ``dapr list`` shows comes from the sidecar's command line (``/proc/<pid>/cmdline``: app port,
socket folder, body size, metrics) and from its metadata API (``cliPID``, ``appPID``, ``appCommand``,
run-file fields, which ``pydapr run`` PUTs there). Every sidecar's metadata is fetched at once, in
threads, with a short timeout, so the cost is one round trip, not one per app.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydapr.home import pydapr_home

# One slow sidecar must not make `list` slow; it is listed with what its files say.
METADATA_TIMEOUT = 0.5
# daprd's defaults (pkg/runtime), which `dapr list` reports when the flags are absent.
DEFAULT_MAX_REQUEST_BODY_SIZE = 4 << 20
DEFAULT_READ_BUFFER_SIZE = 4 << 10
_SIZE_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "ki": 1 << 10, "mi": 1 << 20, "gi": 1 << 30}


@dataclass
class Instance:
    """One running sidecar and what is known of the app beside it (0 or "" where unknown)."""

    app_id: str
    namespace: str
    http_port: int
    grpc_port: int
    app_port: int
    daprd_pid: int
    created_at: float  # the sidecar process's start, seconds since the epoch
    metrics_enabled: bool = True
    metrics_port: int = 0
    command: str = ""  # the app's whole command line
    cli_pid: int = 0
    app_pid: int = 0
    max_request_body_size: int = DEFAULT_MAX_REQUEST_BODY_SIZE
    http_read_buffer_size: int = DEFAULT_READ_BUFFER_SIZE
    run_template_path: str = ""
    run_template_name: str = ""
    app_log_path: str = ""
    daprd_log_path: str = ""
    api_host: str = "127.0.0.1"
    unix_domain_socket: str = ""  # the folder of the sidecar's sockets, "" when it listens on TCP
    resources_paths: list[str] = field(default_factory=list)
    metadata: dict[str, Any] | None = None  # GET /v1.0/metadata as the sidecar answered; None: no answer

    @property
    def age(self) -> str:
        return age(self.created_at)

    @property
    def created(self) -> str:
        # dapr's layout ("2006-01-02 15:04.05"), local time.
        return time.strftime("%Y-%m-%d %H:%M.%S", time.localtime(self.created_at))

    @property
    def http_socket(self) -> str | None:
        if not self.unix_domain_socket:
            return None
        return str(Path(self.unix_domain_socket) / f"dapr-http-{self.app_id}.socket")

    def to_output(self) -> dict[str, Any]:
        """The row as ``dapr list -o json`` writes it (ListOutput's keys, in its order)."""
        return {
            "appId": self.app_id,
            "httpPort": self.http_port,
            "grpcPort": self.grpc_port,
            "appPort": self.app_port,
            "metricsEnabled": self.metrics_enabled,
            "command": truncate(self.command, 20),
            "age": self.age,
            "created": self.created,
            "daprdPid": self.daprd_pid,
            "cliPid": self.cli_pid,
            "appPid": self.app_pid,
            "maxRequestBodySize": self.max_request_body_size,
            "httpReadBufferSize": self.http_read_buffer_size,
            "runTemplatePath": self.run_template_path,
            "appLogPath": self.app_log_path,
            "daprdLogPath": self.daprd_log_path,
            "runTemplateName": self.run_template_name,
        }


def age(created_at: float, now: float | None = None) -> str:
    """Seconds up to a minute, then minutes, hours, days: dapr's pkg/age."""
    seconds = (time.time() if now is None else now) - created_at
    if seconds <= 60:
        return f"{max(int(seconds), 0)}s"
    if seconds <= 3600:
        return f"{int(seconds // 60)}m"
    if seconds <= 86400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def running_instances(home: Path | None = None, *, timeout: float = METADATA_TIMEOUT) -> list[Instance]:
    """Every live sidecar registered under ``home`` (default: the pydapr home), by app id then pid."""
    root = (home if home is not None else pydapr_home()) / "registry"
    found = [inst for entry in sorted(root.glob("*/*/*.json")) if (inst := _from_entry(entry)) is not None]
    _fill_metadata(found, timeout)
    found.sort(key=lambda i: (i.app_id, i.namespace, i.daprd_pid))
    return found


def _from_entry(entry: Path) -> Instance | None:
    try:
        data = json.loads(entry.read_text())
        pid = int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    args = _sidecar_args(pid)
    if args is None:  # gone, or the pid now belongs to another program
        return None
    created = _start_time(pid)
    if created is None:
        return None
    app_id, namespace = entry.parent.name, entry.parent.parent.name
    listen = args.get("--dapr-listen-addresses", "127.0.0.1").split(",")[0].strip().strip("[]")
    return Instance(
        app_id=app_id,
        namespace=namespace,
        http_port=_int(data.get("httpPort"), _int(args.get("--dapr-http-port"), 0)),
        grpc_port=_int(data.get("grpcPort"), _int(args.get("--dapr-grpc-port"), 0)),
        app_port=_int(args.get("--app-port"), 0),
        daprd_pid=pid,
        created_at=created,
        metrics_enabled=args.get("--enable-metrics", "true").lower() not in ("false", "0"),
        metrics_port=_int(args.get("--metrics-port"), 0),
        max_request_body_size=_size(args.get("--max-body-size"), DEFAULT_MAX_REQUEST_BODY_SIZE),
        http_read_buffer_size=_size(args.get("--read-buffer-size"), DEFAULT_READ_BUFFER_SIZE),
        api_host="127.0.0.1" if listen in ("", "0.0.0.0", "::") else listen,
        unix_domain_socket=args.get("--unix-domain-socket", ""),
        resources_paths=args.get_all("--resources-path"),
    )


class _Args(dict[str, str]):
    """A sidecar's flags: the last value of each, and every value of repeatable ones."""

    def __init__(self) -> None:
        super().__init__()
        self.repeated: dict[str, list[str]] = {}

    def add(self, name: str, value: str) -> None:
        self[name] = value
        self.repeated.setdefault(name, []).append(value)

    def get_all(self, name: str) -> list[str]:
        return list(self.repeated.get(name, []))


def _sidecar_args(pid: int) -> _Args | None:
    """The flags of ``pid`` if it runs a pydapr sidecar (``... pydapr sidecar --flag value ...``)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return None
    if "sidecar" not in argv:
        return None
    args = _Args()
    rest = argv[argv.index("sidecar") + 1 :]
    i = 0
    while i < len(rest):
        item = rest[i]
        i += 1
        if not item.startswith("--"):
            continue
        name, eq, value = item.partition("=")
        if eq:
            args.add(name, value)
        elif i < len(rest) and not rest[i].startswith("--"):
            args.add(name, rest[i])
            i += 1
        else:
            args.add(name, "true")  # a bare switch
    return args


_boot_time: float | None = None


def _start_time(pid: int) -> float | None:
    """When ``pid`` started (epoch seconds), from /proc: boot time plus its start in clock ticks."""
    global _boot_time
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if _boot_time is None:
            for line in Path("/proc/stat").read_text().splitlines():
                if line.startswith("btime "):
                    _boot_time = float(line.split()[1])
                    break
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    if not fields or fields[0] in ("Z", "X") or _boot_time is None:
        return None  # a zombie sidecar is not running
    # Field 22 of stat; fields here start at field 3 (the state).
    return _boot_time + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _size(value: str | None, default: int) -> int:
    """A quantity as the sidecar takes it ("4Mi", "512k", "1048576") in bytes."""
    if not value:
        return default
    text = value.strip().lower()
    digits = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = text[len(digits) :].removesuffix("b")
    try:
        return int(float(digits) * _SIZE_UNITS[unit])
    except (ValueError, KeyError):
        return default


def _fill_metadata(instances: list[Instance], timeout: float) -> None:
    threads = [threading.Thread(target=_fetch_into, args=(inst, timeout), daemon=True) for inst in instances]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 0.5)


def _fetch_into(inst: Instance, timeout: float) -> None:
    meta = fetch_metadata(inst, timeout)
    if meta is None:
        return
    inst.metadata = meta
    extended = meta.get("extended")
    if not isinstance(extended, dict):
        extended = {}
    inst.command = str(extended.get("appCommand", ""))
    inst.cli_pid = _int(extended.get("cliPID"), 0)
    inst.app_pid = _int(extended.get("appPID"), 0)
    inst.run_template_path = str(extended.get("runTemplatePath", ""))
    inst.run_template_name = str(extended.get("runTemplateName", ""))
    inst.app_log_path = str(extended.get("appLogPath", ""))
    inst.daprd_log_path = str(extended.get("daprdLogPath", ""))
    if not inst.app_port:
        conn = meta.get("appConnectionProperties")
        if isinstance(conn, dict):
            inst.app_port = _int(conn.get("port"), 0)


def fetch_metadata(inst: Instance, timeout: float = METADATA_TIMEOUT) -> dict[str, Any] | None:
    """``GET /v1.0/metadata`` of the sidecar, or None when it does not answer in time with JSON."""
    status, body = sidecar_request(inst, "GET", "/v1.0/metadata", timeout=timeout)
    if status != 200:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


@dataclass
class Response:
    status: int
    reason: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case


def sidecar_request(
    inst: Instance,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> tuple[int | None, bytes]:
    """(status, body) of :func:`sidecar_call`; status None when the sidecar could not be reached."""
    try:
        response = sidecar_call(inst, method, path, body, headers, timeout)
    except OSError:
        return None, b""
    return response.status, response.body


def sidecar_call(
    inst: Instance,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> Response:
    """One HTTP/1.1 request to the sidecar's API, over TCP or its Unix socket. The caller's
    ``DAPR_API_TOKEN`` is sent, as the dapr CLI's calls send it. OSError when it cannot be reached
    or answers garbage."""
    from pydapr.security import tokens

    all_headers = {"Host": "localhost", "Connection": "close", "Content-Length": str(len(body))}
    with contextlib.suppress(tokens.TokenFileError):
        token = tokens.dapr_api_token()
        if token:
            all_headers["dapr-api-token"] = token
    all_headers.update(headers or {})
    request = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in all_headers.items())
    uds = inst.http_socket
    if uds is not None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(uds)
        except OSError:
            sock.close()
            raise
    else:
        sock = socket.create_connection((inst.api_host, inst.http_port), timeout=timeout)
    with sock:
        sock.sendall(request.encode() + b"\r\n" + body)
        raw = _read_all(sock, time.monotonic() + timeout)
    response = _parse_response(raw)
    if response is None:
        raise OSError(f"not an HTTP response from {uds or f'{inst.api_host}:{inst.http_port}'}")
    return response


def _read_all(sock: socket.socket, deadline: float) -> bytes:
    chunks: list[bytes] = []
    while True:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _parse_response(raw: bytes) -> Response | None:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    return Response(int(parts[1]), parts[2] if len(parts) > 2 else "", body, headers)


def _dechunk(data: bytes) -> bytes:
    out: list[bytes] = []
    while data:
        size_line, _, data = data.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            break
        if size == 0:
            break
        out.append(data[:size])
        data = data[size + 2 :]
    return b"".join(out)
