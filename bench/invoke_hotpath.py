"""CPU per invocation of each sidecar on the path users run, before a change and after, in one run.

Two sidecars A -> B -> echo app, "on the path users will run" (issue 16): mTLS on (certificates
from a ``pydapr sentry`` process), an empty Resiliency resource, a Configuration with tracing at the
default sampling rate (``samplingRate`` absent: 0.0001) exporting to a Zipkin sink in its own
process, and metrics on (the default). With ``--before REV`` a second pair runs from a ``git
worktree`` of REV (``PYTHONPATH=<worktree>/src``); both pairs use one Sentry, one app, one sink.

Load: ``hey -c 16 -q R/16`` (its bursts), 1 KiB POST, direct / before / after interleaved after a
warm-up of each, ``--rounds`` rounds of ``--duration`` s. The primary figure is each sidecar's
utime+stime (all threads, /proc/<pid>/stat) over a run divided by the requests answered: CPU per
request, which another process's load on the machine disturbs far less than latency. Latency
percentiles come from the same runs; medians across rounds.

    python bench/invoke_hotpath.py [--before REV] [--rate 1000] [--duration 10] [--rounds 3]

``--without mtls,tracing,metrics`` leaves those parts of the users' path out (each alone or
together), to see what each costs.

``--callgrind N`` runs each sidecar under ``valgrind --tool=callgrind`` (instrumentation off until
the warm-up is done) and counts the instructions each executes over N calls: a figure that does not
move with the machine's load, for comparing two commits on a shared machine. No latency then.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

REPO = Path(__file__).resolve().parent.parent
ECHO_APP = Path(__file__).resolve().parent / "invoke_http.py"
TRACING_SINK = Path(__file__).resolve().parent / "tracing.py"
CONCURRENCY = 16
BODY_SIZE = 1024

RESILIENCY = """apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: empty
spec:
  policies: {}
  targets: {}
"""

# No samplingRate: the default (0.0001), as a user who only names an exporter gets.
CONFIG = """apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: hotpath
spec:
  tracing:
    zipkin:
      endpointAddress: "http://127.0.0.1:{port}/api/v2/spans"
"""


# ``--without tracing``: a Configuration with no tracing section (daprd traces nothing then).
NO_TRACING = """apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: hotpath
spec: {}
"""


def git(*args: str) -> str:
    out = subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def sidecar_cmd(
    app_id: str, ports: list[int], app_port: int | None, resources: str, config: str, flags: list[str]
) -> list[str]:
    http, grpc, metrics = ports
    cmd = [sys.executable, "-m", "pydapr", "sidecar", "--app-id", app_id]
    if app_port is not None:
        cmd += ["--app-port", str(app_port)]
    cmd += ["--dapr-http-port", str(http), "--dapr-grpc-port", str(grpc), "--metrics-port", str(metrics)]
    cmd += ["--resources-path", resources, "--config", config, *flags, "--log-level", "warn"]
    return cmd


def hey_n(url: str, calls: int, concurrency: int, body: str) -> int:
    """``calls`` POSTs over ``concurrency`` connections as fast as they go; how many answered 2xx."""
    cmd = ["hey", "-n", str(calls), "-c", str(concurrency), "-t", "120", "-m", "POST", "-D", body]
    out = subprocess.run([*cmd, "-o", "csv", url], check=True, capture_output=True, text=True).stdout
    return sum(
        1 for line in out.splitlines()[1:] if line.split(",")[6:7] and line.split(",")[6].startswith("2")
    )


def callgrind_wrap(cmd: list[str], out: Path) -> list[str]:
    """``cmd`` under callgrind, counting nothing until ``callgrind_control -i on``."""
    flags = ["--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}", "--dump-line=no"]
    return ["valgrind", *flags, *cmd]


def callgrind_count(
    urls: dict[str, str],
    pids: dict[str, dict[str, int]],
    outs: dict[str, dict[str, Path]],
    calls: int,
    body: str,
) -> dict[str, dict[str, float]]:
    """Instructions per call of each sidecar of each pair, over ``calls`` calls after a warm-up."""
    per_call: dict[str, dict[str, float]] = {}
    for label, url in urls.items():
        if label == "direct":
            continue
        hey_n(url, 200, 4, body)  # warm-up, uninstrumented
        for pid in pids[label].values():
            subprocess.run(["callgrind_control", "-i", "on", str(pid)], check=True, capture_output=True)
        got = hey_n(url, calls, 4, body)
        if got != calls:
            raise SystemExit(f"{label}: {got} of {calls} calls answered 2xx under callgrind")
        per_call[label] = {}
        for side, pid in pids[label].items():
            subprocess.run(["callgrind_control", "-d", str(pid)], check=True, capture_output=True)
            subprocess.run(["callgrind_control", "-i", "off", str(pid)], check=True, capture_output=True)
            per_call[label][side] = _callgrind_total(outs[label][side]) / calls
    return per_call


def _callgrind_total(out: Path) -> float:
    """Instructions in the dumps of one run (callgrind writes ``<file>.<n>`` per dump)."""
    total = 0
    for dump in sorted(out.parent.glob(out.name + ".*")):
        for line in dump.read_text(errors="replace").splitlines():
            if line.startswith(("summary:", "totals:")):
                total = max(total, 0) + int(line.split()[1])
                break
    return float(total)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", help="an earlier commit (any git revision) to run beside this checkout")
    ap.add_argument("--rate", type=int, default=1000, help="total req/s (a multiple of 16)")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--callgrind", type=int, metavar="N", help="count instructions over N calls instead")
    ap.add_argument("--keep", metavar="DIR", help="with --callgrind: copy the callgrind dumps into DIR")
    ap.add_argument("--hold", action="store_true", help="start everything, print the pids, wait (profiling)")
    ap.add_argument(
        "--without",
        default="",
        help="comma-separated parts of the path users run to leave out, to see what each costs: "
        "mtls, tracing, metrics",
    )
    args = ap.parse_args()
    without = {part for part in args.without.split(",") if part}
    if without - {"mtls", "tracing", "metrics"}:
        raise SystemExit(f"--without: unknown parts {sorted(without - {'mtls', 'tracing', 'metrics'})}")
    if shutil.which("hey") is None:
        raise SystemExit("hey is not installed (apt-get install -y hey)")
    after = git("rev-parse", "--short", "HEAD")
    dirty = bool(git("status", "--porcelain", "src"))
    tmp = Path(tempfile.mkdtemp(prefix="pydapr-hotpath-"))
    trees = {"after": REPO / "src"}
    before = None
    if args.before:
        git("worktree", "add", "--detach", str(tmp / "before"), args.before)
        before = subprocess.run(
            ["git", "-C", str(tmp / "before"), "rev-parse", "--short", "HEAD"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        trees = {"before": tmp / "before" / "src", **trees}
    load0 = os.getloadavg()
    try:
        with c.Procs() as procs, c.body_file(BODY_SIZE) as body:
            sentry_port, app_port, sink_port = c.free_ports(3)
            creds = tmp / "sentry"
            sentry = [sys.executable, "-m", "pydapr", "sentry", "--port", str(sentry_port)]
            procs.spawn([*sentry, "--issuer-credentials", str(creds)])
            procs.spawn([sys.executable, str(ECHO_APP), "--serve-app", str(app_port)])
            procs.spawn([sys.executable, str(TRACING_SINK), "--serve-sink", str(sink_port)])
            for port in (sentry_port, app_port, sink_port):
                c.wait_port(port)
            resources = tmp / "resources"
            resources.mkdir()
            (resources / "resiliency.yaml").write_text(RESILIENCY)
            config = tmp / "config.yaml"
            config.write_text(NO_TRACING if "tracing" in without else CONFIG.format(port=sink_port))
            flags = (
                [] if "mtls" in without else ["--enable-mtls", "--sentry-address", f"127.0.0.1:{sentry_port}"]
            )
            if "metrics" in without:
                flags.append("--enable-metrics=false")
            anchors = (creds / "ca.crt").read_text()

            urls = {"direct": f"http://127.0.0.1:{app_port}/echo"}
            pids: dict[str, dict[str, int]] = {}
            outs: dict[str, dict[str, Path]] = {}
            ready = 180 if args.callgrind else 30
            for label, src in trees.items():
                home = tmp / f"home-{label}"
                home.mkdir()
                env = {
                    **os.environ,
                    "PYDAPR_HOME": str(home),
                    # Any PYTHONPATH given stays ahead (a sitecustomize for profiling, say).
                    "PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(src)])),
                    "DAPR_TRUST_ANCHORS": anchors,
                }
                ports = c.free_ports(6)
                cmd_b = sidecar_cmd("B", ports[:3], app_port, str(resources), str(config), flags)
                cmd_a = sidecar_cmd("A", ports[3:], None, str(resources), str(config), flags)
                if args.callgrind:
                    outs[label] = {"A": tmp / f"cg-{label}-A.out", "B": tmp / f"cg-{label}-B.out"}
                    cmd_a = callgrind_wrap(cmd_a, outs[label]["A"])
                    cmd_b = callgrind_wrap(cmd_b, outs[label]["B"])
                side_b = procs.spawn(cmd_b, env)
                side_a = procs.spawn(cmd_a, env)
                c.wait_status(ports[0], "/v1.0/healthz", 204, ready, side_b)
                c.wait_status(ports[3], "/v1.0/healthz/outbound", 204, ready, side_a)
                urls[label] = f"http://127.0.0.1:{ports[3]}/v1.0/invoke/B/method/echo"
                pids[label] = {"A": side_a.pid, "B": side_b.pid}
                if c.http_status(ports[3], "/v1.0/invoke/B/method/echo", "POST", 60.0) != 200:
                    raise SystemExit(f"{label}: a call through the sidecars did not answer 200")
            if args.hold:
                # Ended by SIGTERM from a non-interactive shell (which ignores SIGINT for jobs).
                signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
                print({"urls": urls, "pids": pids}, flush=True)
                while True:
                    time.sleep(3600)

            if args.callgrind:
                counted = callgrind_count(urls, pids, outs, args.callgrind, body)
                if args.keep:
                    Path(args.keep).mkdir(parents=True, exist_ok=True)
                    for dump in tmp.glob("cg-*.out.*"):
                        shutil.copy(dump, args.keep)
                _report_callgrind(counted, args.callgrind, after, dirty, before, without)
                return
            qps = args.rate / CONCURRENCY
            for url in urls.values():
                c.hey(url, args.warmup, CONCURRENCY, qps, "POST", body)
            runs: dict[str, list[c.HeyResult]] = {label: [] for label in urls}
            per_req: dict[str, list[dict[str, float]]] = {label: [] for label in urls}
            for rnd in range(args.rounds):
                for label, url in urls.items():
                    ticks0 = {k: c.cpu_ticks(p) for k, p in pids.get(label, {}).items()}
                    got = c.hey(url, args.duration, CONCURRENCY, qps, "POST", body)
                    used = {
                        k: (c.cpu_ticks(p) - ticks0[k]) / c.CLK_TCK * 1e6 / max(1, got.ok + got.non_2xx)
                        for k, p in pids.get(label, {}).items()
                    }
                    runs[label].append(got)
                    per_req[label].append(used)
                    cpu = " ".join(f"{k}={v:5.1f}us" for k, v in used.items())
                    print(
                        f"round {rnd + 1} {label:<6} n={got.ok:<6} p50={got.pct(50):5.2f} "
                        f"p90={got.pct(90):5.2f} p99={got.pct(99):5.2f} ms non-2xx={got.non_2xx} {cpu}",
                        file=sys.stderr,
                        flush=True,
                    )
    finally:
        if before is not None:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(tmp / "before")],
                check=False,
                capture_output=True,
            )
        shutil.rmtree(tmp, ignore_errors=True)

    load1 = os.getloadavg()
    print(f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: {c.machine()}.")
    print(
        f"after = {after}{' + uncommitted src' if dirty else ''}"
        + (f", before = {before}" if before else "")
        + (f", without {', '.join(sorted(without))}" if without else "")
        + f". hey -c {CONCURRENCY} -q {args.rate // CONCURRENCY}, 1 KiB POST, {args.rounds} rounds of "
        f"{args.duration:g} s per path, interleaved; medians across rounds. Load average "
        f"{load0[0]:.1f} at the start, {load1[0]:.1f} at the end."
    )
    print()
    print(
        "| path | sidecar A CPU per request (µs) | sidecar B CPU per request (µs) | p50 / p90 / p99 (ms) "
        "| added vs direct p50 / p90 / p99 (ms) | ok / expected | non-2xx |"
    )
    print("|---|---|---|---|---|---|---|")
    direct = [c.median([r.pct(q) for r in runs["direct"]]) for q in (50, 90, 99)]
    for label, rs in runs.items():
        med = [c.median([r.pct(q) for r in rs]) for q in (50, 90, 99)]
        added = " / ".join(f"{m - d:+.2f}" for m, d in zip(med, direct, strict=True))
        if label == "direct":
            added = "—"
        cpu = ["—", "—"]
        if label != "direct":
            cpu = []
            for k in ("A", "B"):
                each = [u[k] for u in per_req[label]]
                cpu.append(f"{c.median(each):.0f} ({', '.join(f'{x:.0f}' for x in each)})")
        ok = sum(r.ok for r in rs)
        bad = sum(r.non_2xx for r in rs)
        expected = int(args.rate * args.duration * args.rounds)
        print(
            f"| {label} | {cpu[0]} | {cpu[1]} | {' / '.join(f'{m:.2f}' for m in med)} | {added} "
            f"| {ok} / {expected} | {bad} |"
        )


def _report_callgrind(
    counted: dict[str, dict[str, float]],
    calls: int,
    after: str,
    dirty: bool,
    before: str | None,
    without: set[str],
) -> None:
    print(f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: {c.machine()}.")
    print(
        f"after = {after}{' + uncommitted src' if dirty else ''}"
        + (f", before = {before}" if before else "")
        + (f", without {', '.join(sorted(without))}" if without else "")
        + f". Instructions (callgrind Ir) per call over {calls} calls (hey -c 4), after 200 uncounted."
    )
    print()
    print("| path | sidecar A instructions per call | sidecar B instructions per call |")
    print("|---|---|---|")
    for label, sides in counted.items():
        print(f"| {label} | {sides['A'] / 1e3:,.0f} k | {sides['B'] / 1e3:,.0f} k |")


if __name__ == "__main__":
    main()
