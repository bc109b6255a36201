"""State GET and publish over the sidecar's gRPC API and over its HTTP API, all loaded by one C client
(``h2load``, Debian package ``nghttp2-client``), so no Python client's CPU shares the cores with
the sidecar; optionally the same for an earlier commit in the same run.

    python bench/grpc_h2load.py [--rate 1000] [--connections 16] [--seconds 5] [--rounds 3]
        [--kinds grpc,http] [--before REV] [--after REV|DIR] [--callgrind N] [--profile DIR]

A sidecar (state.in-memory holding a 1 KiB value, pubsub.in-memory named ``pubsub``, metrics on, the
native gRPC server) per tree; kinds: ``grpc``, ``POST /dapr.proto.runtime.v1.Dapr/GetState`` with
h2load over HTTP/2 (``-d`` a length-prefixed ``GetStateRequest``, ``content-type: application/grpc``,
``te: trailers``); ``http``, ``GET /v1.0/state/memory/{key}`` with h2load over HTTP/1.1 (``--h1``);
``pub-grpc``, ``PublishEvent`` of 1 KiB of JSON (``data_content_type`` application/json) to topic
``bench`` over HTTP/2; ``pub-http``, ``POST /v1.0/publish/pubsub/bench`` of the same body
(``content-type: application/json``) over HTTP/1.1; ``save-grpc``, ``SaveState`` of the key with the
1 KiB value over HTTP/2; ``save-http``, ``POST /v1.0/state/memory`` of the same item as JSON over
HTTP/1.1 (each save overwrites the key, no ETag). The topic has no subscriber (the sidecar runs
without an app): each publish is checked, enveloped as a CloudEvent, encoded and handed to the
broker, which drops it, as Dapr's in-memory broker does with no subscription. Each run is
``--rate`` requests/s in total from ``--connections`` connections (one ``h2load -c 1 --rps`` per
connection, started 1/rate s apart, one request in flight on each) for ``--seconds``, after a 2 s
warm-up run of each. Latency is h2load's ``--log-file`` (each request's start to the end of its
response; p50/p90/p99 computed here: h2load itself gives only min/max/mean/sd); CPU is the sidecar's
utime+stime (/proc/<pid>/stat) over the run divided by the requests logged (the connections' setup
included). Rounds alternate the order of the (tree, kind) runs; figures are medians across rounds.
h2load checks only the HTTP status: one grpcio call before the runs checks the reply's grpc-status
and value.

``--before REV`` runs a second sidecar from ``git worktree add --detach`` of REV
(``PYTHONPATH=<worktree>/src``), interleaved with this checkout's (or ``--after``'s: a commit, or a
checkout's folder used as it is). ``--callgrind N`` instead counts the sidecars' instructions
(valgrind's callgrind, on after a warm-up, counters zeroed before and dumped after each run) over N
requests at ``--callgrind-rate`` (100/s: every request its own loop wake-up, as at 1000/s), no
latency then. ``--profile DIR`` records each sidecar with ``py-spy record -f raw`` (1000 Hz).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

KEY = "bench-key"
VALUE = "x" * 1022  # a JSON string of 1 KiB
STORE = """apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: memory
spec:
  type: state.in-memory
  version: v1
"""
PUBSUB = """apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub
spec:
  type: pubsub.in-memory
  version: v1
"""
TOPIC = "bench"
EVENT = ('{"message": "' + "x" * 1009 + '"}').encode()  # 1 KiB of JSON
METHOD = "/dapr.proto.runtime.v1.Dapr/GetState"
PUBLISH = "/dapr.proto.runtime.v1.Dapr/PublishEvent"
SAVE = "/dapr.proto.runtime.v1.Dapr/SaveState"
SAVE_BODY = f'[{{"key": "{KEY}", "value": "{VALUE}"}}]'.encode()
KINDS = ("grpc", "http", "pub-grpc", "pub-http", "save-grpc", "save-http")
GRPC_KINDS = ("grpc", "pub-grpc", "save-grpc")
# The HTTP status h2load must log for each kind's requests.
OK_STATUS = {
    "grpc": "200",
    "http": "200",
    "pub-grpc": "200",
    "pub-http": "204",
    "save-grpc": "200",
    "save-http": "204",
}
# kind -> the gRPC method or the HTTP path (with the method h2load's -d implies) it requests.
TARGET = {
    "grpc": METHOD,
    "http": f"/v1.0/state/memory/{KEY}",
    "pub-grpc": PUBLISH,
    "pub-http": f"/v1.0/publish/pubsub/{TOPIC}",
    "save-grpc": SAVE,
    "save-http": "/v1.0/state/memory",
}
API = {
    "grpc": "gRPC `GetState` (h2load, HTTP/2)",
    "http": "HTTP `GET /v1.0/state` (h2load --h1)",
    "pub-grpc": "gRPC `PublishEvent` (h2load, HTTP/2)",
    "pub-http": "HTTP `POST /v1.0/publish` (h2load --h1)",
    "save-grpc": "gRPC `SaveState` (h2load, HTTP/2)",
    "save-http": "HTTP `POST /v1.0/state` (h2load --h1)",
}
PY_SPY = Path(sys.executable).with_name("py-spy")


def grpc_request() -> bytes:
    """One gRPC message: the 5-byte prefix (uncompressed, length) and a GetStateRequest."""
    from dapr.proto.runtime.v1 import state_pb2

    body = state_pb2.GetStateRequest(store_name="memory", key=KEY).SerializeToString()
    return b"\0" + len(body).to_bytes(4, "big") + body


def publish_request() -> bytes:
    """One gRPC message: a PublishEventRequest of EVENT as application/json to TOPIC."""
    from dapr.proto.runtime.v1 import pubsub_pb2

    body = pubsub_pb2.PublishEventRequest(
        pubsub_name="pubsub", topic=TOPIC, data=EVENT, data_content_type="application/json"
    ).SerializeToString()
    return b"\0" + len(body).to_bytes(4, "big") + body


def save_request() -> bytes:
    """One gRPC message: a SaveStateRequest of the key with the 1 KiB JSON value."""
    from dapr.proto.common.v1 import common_pb2
    from dapr.proto.runtime.v1 import state_pb2

    item = common_pb2.StateItem(key=KEY, value=f'"{VALUE}"'.encode())
    body = state_pb2.SaveStateRequest(store_name="memory", states=[item]).SerializeToString()
    return b"\0" + len(body).to_bytes(4, "big") + body


def request_files(tmp: Path) -> dict[str, Path]:
    """kind -> the file h2load sends as each request's body (``-d``); none for a GET."""
    bodies = {
        "grpc": grpc_request(),
        "pub-grpc": publish_request(),
        "pub-http": EVENT,
        "save-grpc": save_request(),
        "save-http": SAVE_BODY,
    }
    files = {kind: tmp / f"{kind}.body" for kind in bodies}
    for kind, body in bodies.items():
        files[kind].write_bytes(body)
    return files


class Sidecar:
    """A pydapr sidecar from ``src`` with the key saved: its ports and CPU seconds so far."""

    def __init__(self, label: str, src: Path, tmp: Path, callgrind: bool, profile: Path | None) -> None:
        self.label = label
        res = tmp / label / "res"
        res.mkdir(parents=True)
        (res / "memory.yaml").write_text(STORE)
        (res / "pubsub.yaml").write_text(PUBSUB)
        self.http_port, self.grpc_port, metrics_port = c.free_ports(3)
        argv = [sys.executable, "-m", "pydapr", "sidecar", "--app-id", "bench", "--log-level", "warn"]
        argv += ["--resources-path", str(res), "--metrics-port", str(metrics_port)]
        argv += ["--dapr-http-port", str(self.http_port), "--dapr-grpc-port", str(self.grpc_port)]
        self.callgrind_out = tmp / label / "callgrind.out"
        if callgrind:
            flags = ["--tool=callgrind", "--instr-atstart=no", "--dump-line=no"]
            argv = ["valgrind", *flags, f"--callgrind-out-file={self.callgrind_out}", *argv]
        elif profile is not None:
            out = profile / f"{label}.txt"
            argv = [
                str(PY_SPY),
                "record",
                "--nonblocking",
                "-r",
                "1000",
                "-f",
                "raw",
                "-o",
                str(out),
                "--",
                *argv,
            ]
        env = dict(os.environ, PYDAPR_HOME=str(tmp / label / "home"), PYTHONPATH=str(src))
        env["PYDAPR_GRPC_SERVER"] = "native"
        self.proc = c.spawn(argv, env=env)
        c.wait_status(
            self.http_port, "/v1.0/healthz/outbound", 204, timeout=240 if callgrind else 30, proc=self.proc
        )
        save = urllib.request.Request(f"http://127.0.0.1:{self.http_port}/v1.0/state/memory", SAVE_BODY)
        save.add_header("content-type", "application/json")
        with urllib.request.urlopen(save, timeout=60) as response:
            assert response.status == 204
        # The pid whose CPU is read: the sidecar itself, under py-spy or valgrind too.
        self.pid = self.proc.pid
        if profile is not None and not callgrind:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
            self.pid = int(children[0]) if children else self.proc.pid

    def cpu(self) -> float:
        return c.cpu_ticks(self.pid) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        # py-spy writes its profile when the sidecar ends: SIGINT to the sidecar alone first.
        if self.proc.poll() is None and self.pid != self.proc.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, 2)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(20)
        c.stop(self.proc, grace=20)


def h2load(
    sidecar: Sidecar,
    kind: str,
    request_files: dict[str, Path],
    log: Path,
    *,
    rate: float,
    connections: int,
    seconds: float | None = None,
    requests: int | None = None,
) -> tuple[list[float], int]:
    """One run: (each logged request's time in ms, requests that failed). One h2load per connection
    (``-c 1``), each started 1/rate s after the one before: one h2load's connections all start their
    ``--rps`` timers at once, so their requests came in bursts of ``connections`` at a time."""
    argv = ["h2load", "-c", "1", "-m", "1", f"--rps={rate / connections:g}"]
    if seconds is not None:
        argv += ["-D", f"{seconds:g}"]
    else:
        argv += ["-n", str(max(1, requests // connections if requests else 1))]
    if kind in GRPC_KINDS:
        argv += ["-H", "content-type: application/grpc", "-H", "te: trailers", "-d", str(request_files[kind])]
        argv += [f"http://127.0.0.1:{sidecar.grpc_port}{TARGET[kind]}"]
    else:
        if kind in request_files:
            argv += ["-H", "content-type: application/json", "-d", str(request_files[kind])]
        argv += ["--h1", f"http://127.0.0.1:{sidecar.http_port}{TARGET[kind]}"]
    logs = [log.with_suffix(f".{i}") for i in range(connections)]
    procs = []
    started = time.monotonic()
    for i, each in enumerate(logs):
        each.unlink(missing_ok=True)
        time.sleep(max(0.0, started + i / rate - time.monotonic()))
        cmd = [*argv[:1], f"--log-file={each}", *argv[1:]]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    times, failed = [], 0
    for proc in procs:
        out, err = proc.communicate(timeout=(seconds or 600) + 120)
        if proc.returncode != 0:
            raise SystemExit(f"h2load failed: {' '.join(map(str, proc.args))}\n{out}\n{err}")
        for line in out.splitlines():
            if line.startswith("requests:"):  # "requests: N total, N started, N done, N succeeded, N failed"
                parts = line.replace(",", "").split()
                failed += int(parts[parts.index("failed") - 1])
    for each in logs:
        for line in each.read_text().splitlines():
            fields = line.split("\t")
            if fields[1] != OK_STATUS[kind]:
                failed += 1
                continue
            times.append(int(fields[2]) / 1000)
    return times, failed


def check_grpc_status(sidecar: Sidecar, kinds: list[str]) -> None:
    """h2load sees only the HTTP status: one real gRPC call per gRPC kind proves the reply (grpc-status
    0, the value; an empty reply to the publish)."""
    import grpc
    from dapr.proto.runtime.v1 import pubsub_pb2, state_pb2
    from google.protobuf import empty_pb2

    with grpc.insecure_channel(f"127.0.0.1:{sidecar.grpc_port}") as channel:
        if "grpc" in kinds:
            get_state = channel.unary_unary(
                METHOD,
                request_serializer=state_pb2.GetStateRequest.SerializeToString,
                response_deserializer=state_pb2.GetStateResponse.FromString,
            )
            reply = get_state(state_pb2.GetStateRequest(store_name="memory", key=KEY), timeout=60)
            assert len(reply.data) == len(VALUE) + 2, reply
        if "pub-grpc" in kinds:
            publish = channel.unary_unary(
                PUBLISH,
                request_serializer=pubsub_pb2.PublishEventRequest.SerializeToString,
                response_deserializer=empty_pb2.Empty.FromString,
            )
            request = pubsub_pb2.PublishEventRequest.FromString(publish_request()[5:])
            publish(request, timeout=60)
        if "save-grpc" in kinds:
            save = channel.unary_unary(
                SAVE,
                request_serializer=state_pb2.SaveStateRequest.SerializeToString,
                response_deserializer=empty_pb2.Empty.FromString,
            )
            save(state_pb2.SaveStateRequest.FromString(save_request()[5:]), timeout=60)


@contextlib.contextmanager
def _tree(rev: str) -> Iterator[Path]:
    """The src folder of REV: a folder holding a checkout as it is, else a git worktree of REV."""
    if (Path(rev) / "src" / "pydapr").is_dir():
        yield Path(rev).resolve() / "src"
        return
    where = Path(tempfile.mkdtemp(prefix="grpc-h2load-tree-"))
    where.rmdir()
    c.git("worktree", "add", "--detach", str(where), rev)
    try:
        yield where / "src"
    finally:
        c.git("worktree", "remove", "--force", str(where))


@contextlib.contextmanager
def trees(before: str | None, after: str | None) -> Iterator[dict[str, Path]]:
    """label -> the src folder of each tree: REV's with --before, this checkout's (or --after's)."""
    with contextlib.ExitStack() as stack:
        out = {}
        if before is not None:
            out["before"] = stack.enter_context(_tree(before))
        label = "after" if before is not None else "this"
        out[label] = stack.enter_context(_tree(after)) if after is not None else c.REPO / "src"
        yield out


def _instructions(sidecar: Sidecar, action: Callable[[], None]) -> int:
    """Instructions the sidecar executes during ``action``: counters zeroed, then dumped. (Turning
    instrumentation on and off around each run instead gave dumps with wrapped-around totals.)"""
    pattern = sidecar.callgrind_out.name + ".*"
    old = set(sidecar.callgrind_out.parent.glob(pattern))
    subprocess.run(["callgrind_control", "-z", str(sidecar.pid)], check=True, capture_output=True)
    action()
    subprocess.run(["callgrind_control", "-d", str(sidecar.pid)], check=True, capture_output=True)
    (dump,) = set(sidecar.callgrind_out.parent.glob(pattern)) - old
    for line in dump.read_text(errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise SystemExit(f"{dump}: no totals")


def callgrind(
    sidecars: dict[str, Sidecar],
    kinds: list[str],
    request_file: dict[str, Path],
    tmp: Path,
    n: int,
    rate: float,
    rounds: int,
) -> None:
    """Instructions per request over n requests, each kind and tree in turn, rounds interleaved."""
    log = tmp / "callgrind.log"
    counted: dict[tuple[str, str], list[float]] = {(kind, label): [] for kind in kinds for label in sidecars}
    for sidecar in sidecars.values():
        for kind in kinds:
            h2load(sidecar, kind, request_file, log, rate=rate, connections=4, requests=300)
        subprocess.run(["callgrind_control", "-i", "on", str(sidecar.pid)], check=True, capture_output=True)
    for r in range(rounds):
        order = list(counted) if r % 2 == 0 else list(reversed(counted))
        for kind, label in order:
            sidecar = sidecars[label]
            answered: list[int] = []

            def run(sidecar: Sidecar = sidecar, kind: str = kind, answered: list[int] = answered) -> None:
                times, failed = h2load(sidecar, kind, request_file, log, rate=rate, connections=4, requests=n)
                answered.append(len(times) if not failed else -1)

            busy = _instructions(sidecar, run)
            if answered != [n]:
                raise SystemExit(f"{label} {kind}: {answered} of {n} requests answered 200")
            counted[(kind, label)].append(busy / n)
            print(f"round {r + 1} {label:6} {kind:4}: {busy / n:,.0f} Ir/request", flush=True)
    print(
        f"\nInstructions (callgrind Ir) per request, {n} requests at {rate:g}/s "
        "(h2load -c 4, one in flight each) "
        f"after 300 uncounted; medians of {rounds} rounds"
    )
    print("| API | " + " | ".join(sidecars) + " |")
    print("|---|" + "---|" * len(sidecars))
    for kind in kinds:
        cells = [f"{statistics.median(counted[(kind, label)]):,.0f}" for label in sidecars]
        print(f"| {API[kind]} | " + " | ".join(cells) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=1000.0, help="requests/s in total")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--kinds", default="grpc,http")
    ap.add_argument("--before", metavar="REV", help="also run REV's sidecar (a git worktree), interleaved")
    ap.add_argument("--after", metavar="REV", help="a commit or a checkout's folder instead of this checkout")
    ap.add_argument("--callgrind", type=int, metavar="N", help="count instructions over N requests instead")
    ap.add_argument("--callgrind-rate", type=float, default=100.0, help="requests/s with --callgrind")
    ap.add_argument("--profile", metavar="DIR", help="py-spy raw stacks of each sidecar into DIR")
    args = ap.parse_args()
    if shutil.which("h2load") is None:
        ap.error("h2load is missing: apt-get install -y nghttp2-client")
    kinds = args.kinds.split(",")
    if set(kinds) - set(KINDS):
        ap.error(f"kinds are {', '.join(KINDS)}")
    profile = Path(args.profile).resolve() if args.profile else None
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
    commit = c.git("rev-parse", "--short", "HEAD").strip()
    dirty = " (with uncommitted changes)" if c.git("status", "--porcelain", "--", "src").strip() else ""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    with (
        trees(args.before, args.after) as srcs,
        tempfile.TemporaryDirectory(prefix="grpc-h2load-") as tmp_name,
    ):
        tmp = Path(tmp_name)
        request_file = request_files(tmp)
        sidecars: dict[str, Sidecar] = {}
        try:
            for label, src in srcs.items():
                sidecars[label] = Sidecar(label, src, tmp, args.callgrind is not None, profile)
                if set(GRPC_KINDS) & set(kinds):
                    check_grpc_status(sidecars[label], kinds)
            named = {"before": args.before, "after": args.after or commit + dirty, "this": commit + dirty}
            trees_line = ", ".join(f"{label} {named[label]}" for label in sidecars)
            print(f"{stamp}; {c.machine()}; load average {os.getloadavg()[0]:.2f}; {trees_line}")
            if args.callgrind is not None:
                callgrind(
                    sidecars, kinds, request_file, tmp, args.callgrind, args.callgrind_rate, args.rounds
                )
                return
            runs = [(label, kind) for kind in kinds for label in sidecars]
            for label, kind in runs:  # warm-up, uncounted
                h2load(
                    sidecars[label],
                    kind,
                    request_file,
                    tmp / "warmup.log",
                    rate=args.rate,
                    connections=args.connections,
                    seconds=2,
                )
            cpu: dict[tuple[str, str], list[float]] = {run: [] for run in runs}
            lat: dict[tuple[str, str], list[tuple[float, float, float, float]]] = {run: [] for run in runs}
            for n in range(args.rounds):
                for label, kind in runs if n % 2 == 0 else reversed(runs):
                    sidecar = sidecars[label]
                    log = tmp / "run.log"
                    before = sidecar.cpu()
                    times, failed = h2load(
                        sidecar,
                        kind,
                        request_file,
                        log,
                        rate=args.rate,
                        connections=args.connections,
                        seconds=args.seconds,
                    )
                    used = sidecar.cpu() - before
                    if failed:
                        raise SystemExit(f"{label} {kind}: {failed} requests failed")
                    us = used / len(times) * 1e6
                    p50, p90, p99 = (c.percentile(times, p) for p in (50, 90, 99))
                    cpu[(label, kind)].append(us)
                    rps = len(times) / args.seconds
                    lat[(label, kind)].append((p50, p90, p99, rps))
                    print(
                        f"round {n + 1} {label:6} {kind:4}: {us:6.1f} µs CPU/request, "
                        f"p50 {p50:.2f} p90 {p90:.2f} p99 {p99:.2f} ms, {rps:.0f} req/s",
                        flush=True,
                    )
        finally:
            for sidecar in sidecars.values():
                sidecar.stop()
    print(
        f"\nh2load, {args.connections} connections (one h2load each, staggered), one request in flight "
        f"on each, {args.rate:g} requests/s "
        f"in total, {args.seconds:g} s a run after a 2 s warm-up, {args.rounds} rounds interleaved; medians"
    )
    print("| API | tree | sidecar CPU per request (µs) (rounds) | p50 / p90 / p99 (ms) | requests/s |")
    print("|---|---|---|---|---|")
    for label, kind in runs:
        rounds = cpu[(label, kind)]
        cols = list(zip(*lat[(label, kind)], strict=True))
        p50, p90, p99, rps = (statistics.median(col) for col in cols)
        each = ", ".join(f"{v:.0f}" for v in rounds)
        api = API[kind]
        print(
            f"| {api} | {label} | {statistics.median(rounds):.0f} ({each}) "
            f"| {p50:.2f} / {p90:.2f} / {p99:.2f} | {rps:.0f} |"
        )


if __name__ == "__main__":
    main()
