"""Shared helpers for the benches: free ports, process start/stop, `hey` runs, CPU and RSS from /proc.

Everything here is plain stdlib so a bench stays a single file plus this module. Processes are started
in their own process group (``start_new_session``) and stopped by group, so nothing outlives a bench.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import http.client
import io
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- ports and processes -------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it; a tiny race is accepted)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports (all held open until chosen, so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def spawn(
    cmd: Sequence[str], env: dict[str, str] | None = None, quiet: bool = True
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in a new process group; stdout/stderr discarded unless ``quiet`` is False."""
    out = subprocess.DEVNULL if quiet else None
    return subprocess.Popen(
        list(cmd), env=env, stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True
    )


def stop(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the process group, wait ``grace`` s, then SIGKILL it. Safe to call twice."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    # Whatever is left in the group (children of the leader) goes too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)


class Procs:
    """A set of started processes, all stopped on exit (use as a context manager)."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, cmd: Sequence[str], env: dict[str, str] | None = None, quiet: bool = True):
        proc = spawn(cmd, env, quiet)
        self.procs.append(proc)
        return proc

    def __enter__(self) -> Procs:
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):
            stop(proc)


def http_status(port: int, path: str, method: str = "GET", timeout: float = 1.0) -> int | None:
    """Status of one request to 127.0.0.1:port, or None if it could not connect or failed."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except OSError:
        return None
    finally:
        conn.close()


def wait_status(
    port: int,
    path: str,
    status: int = 204,
    timeout: float = 30.0,
    proc: subprocess.Popen[bytes] | None = None,
    interval: float = 0.005,
) -> float:
    """Poll until ``path`` answers ``status``; returns the monotonic time it did. Raises on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if http_status(port, path) == status:
            return time.monotonic()
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode} before ready")
        time.sleep(interval)
    raise TimeoutError(f"127.0.0.1:{port}{path} did not answer {status} within {timeout} s")


def wait_port(port: int, timeout: float = 10.0) -> None:
    """Wait until something accepts TCP connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.01)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


# -- /proc sampling ------------------------------------------------------------------------------


def cpu_ticks(pid: int) -> int:
    """utime + stime of ``pid`` in clock ticks (fields 14 and 15 of /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        data = f.read()
    fields = data[data.rindex(")") + 2 :].split()  # fields after "(comm)", starting at field 3
    return int(fields[11]) + int(fields[12])


def rss_kib(pid: int) -> int:
    """VmRSS of ``pid`` in KiB (0 if the process has none or is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


@dataclass
class Usage:
    cpu_pct: float  # % of one core over the window
    rss_max_mib: float


class ProcSampler:
    """CPU (% of one core, from utime+stime deltas) and max RSS (sampled every ``interval`` s) of pids.

    ``with ProcSampler({"A": pid}) as s: ...`` then ``s.usage["A"]``.
    """

    def __init__(self, pids: dict[str, int], interval: float = 0.1) -> None:
        self.pids = pids
        self.interval = interval
        self.usage: dict[str, Usage] = {}
        self._rss: dict[str, int] = dict.fromkeys(pids, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample_rss(self) -> None:
        for name, pid in self.pids.items():
            self._rss[name] = max(self._rss[name], rss_kib(pid))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample_rss()

    def __enter__(self) -> ProcSampler:
        self._t0 = time.monotonic()
        self._ticks0 = {name: cpu_ticks(pid) for name, pid in self.pids.items()}
        self._sample_rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        wall = time.monotonic() - self._t0
        self._sample_rss()
        for name, pid in self.pids.items():
            ticks = cpu_ticks(pid) - self._ticks0[name]
            self.usage[name] = Usage(100.0 * ticks / CLK_TCK / wall, self._rss[name] / 1024)


# -- hey -----------------------------------------------------------------------------------------


@dataclass
class HeyResult:
    url: str
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)  # 2xx responses only
    non_2xx: int = 0

    @property
    def ok(self) -> int:
        return len(self.latencies_ms)

    @property
    def rate(self) -> float:
        """Achieved rate of 2xx responses, req/s."""
        return self.ok / self.seconds

    def pct(self, p: float) -> float:
        return percentile(self.latencies_ms, p)


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of ``samples``; nan when empty."""
    if not samples:
        return float("nan")
    s = sorted(samples)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


def hey(
    url: str,
    seconds: float,
    concurrency: int = 16,
    qps_per_worker: float = 32,
    method: str = "POST",
    body_file: str | None = None,
    content_type: str = "application/octet-stream",
    timeout_s: int = 20,
) -> HeyResult:
    """Run ``hey -z <seconds>s -c <concurrency> -q <qps>`` (rate = concurrency x qps) with CSV output.

    hey's CSV lists only requests that got a response (transport errors are left out, so a shortfall
    in ``ok`` against ``rate x seconds`` shows them); response times have 0.1 ms resolution.
    """
    cmd = ["hey", "-z", f"{seconds}s", "-c", str(concurrency), "-q", f"{qps_per_worker:g}"]
    cmd += ["-t", str(timeout_s), "-m", method, "-T", content_type, "-o", "csv"]
    if body_file is not None:
        cmd += ["-D", body_file]
    cmd.append(url)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    res = HeyResult(url, seconds)
    for row in csv.DictReader(io.StringIO(out)):
        code = int(row["status-code"])
        if 200 <= code < 300:
            res.latencies_ms.append(float(row["response-time"]) * 1000.0)
        else:
            res.non_2xx += 1
    return res


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


@contextlib.contextmanager
def body_file(size: int = 1024) -> Iterator[str]:
    """A temp file of ``size`` printable random bytes (a POST body for hey)."""
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".bin", delete=False) as f:
        f.write(os.urandom(size // 2 + 1).hex().encode()[:size])
        path = f.name
    try:
        yield path
    finally:
        os.unlink(path)


def machine() -> str:
    """One line about this machine: CPU model, cores, kernel."""
    model = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {os.cpu_count()} cores, Linux {os.uname().release}"


async def run_at_rate(op: Callable[[], Awaitable[None]], rate: float, seconds: float) -> list[float]:
    """Open loop: start one ``op`` every 1/rate s whatever the earlier ones do; each latency (s) is
    measured from the request's scheduled start, so a stalled system cannot hide its queueing."""
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    tasks = []
    begin = loop.time() + 0.05

    async def one(at: float) -> None:
        await op()
        latencies.append(loop.time() - at)

    for i in range(int(rate * seconds)):
        at = begin + i / rate
        delay = at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(at)))
    await asyncio.gather(*tasks)
    return latencies


def pct(values: list[float], p: float) -> float:
    """The p-th percentile of latencies in seconds, in milliseconds (rank int(p% x n))."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


# -- interleaved runs ----------------------------------------------------------------------------


def interleaved_hey(
    urls: dict[str, str],
    pids: dict[str, dict[str, int]],
    rate: int,
    *,
    warmup: float,
    duration: float,
    rounds: int,
    body: str,
    concurrency: int = 16,
) -> tuple[dict[str, list[HeyResult]], dict[str, list[dict[str, Usage]]]]:
    """Every path warmed up, then ``rounds`` rounds of one run per path in turn (A B C A B C ...),
    ``hey`` at ``rate`` req/s in total over ``concurrency`` connections, POSTing ``body`` (a file);
    the processes in ``pids[label]`` are sampled over that path's runs. Interleaving spreads the
    machine's drift over every path alike. Returns each path's results and usages, by label."""
    qps = rate / concurrency
    for url in urls.values():
        hey(url, warmup, concurrency, qps, "POST", body)
    results: dict[str, list[HeyResult]] = {label: [] for label in urls}
    usage: dict[str, list[dict[str, Usage]]] = {label: [] for label in urls}
    for r in range(rounds):
        for label, url in urls.items():
            with ProcSampler(pids.get(label, {})) as sampler:
                got = hey(url, duration, concurrency, qps, "POST", body)
            results[label].append(got)
            usage[label].append(sampler.usage)
            print(
                f"{rate} req/s round {r + 1} {label:<11} n={got.ok:<6} p50={got.pct(50):6.2f} "
                f"p90={got.pct(90):6.2f} p99={got.pct(99):6.2f} ms non-2xx={got.non_2xx}",
                file=sys.stderr,
                flush=True,
            )
    return results, usage


# -- the repository and processes the benches share ------------------------------------------------

REPO = Path(__file__).resolve().parent.parent


def git(*args: str, cwd: Path = REPO) -> str:
    """``git -C cwd args``'s output (the benches' ``--before REV`` worktrees)."""
    out = subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True)
    return out.stdout.strip()


async def stop_process_group(proc: asyncio.subprocess.Process, what: str, grace: float = 15.0) -> None:
    """SIGTERM to ``proc``'s group, SIGKILL after ``grace`` s: a bench never leaves it behind."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        print(f"{what} did not stop within {grace:g} s of SIGTERM: killed", file=sys.stderr)
        os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
