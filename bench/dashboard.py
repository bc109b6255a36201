"""The cost of one dashboard refresh with N apps running: the dashboard's CPU and wall time, and the
load it puts on the sidecars; and a refresh's wall time while one sidecar hangs.

    python bench/dashboard.py [--apps 1,5,10,20] [--refreshes 20] [--jobs 2]

Apps are real ``pydapr run`` processes (a sidecar each, no app command, an in-memory state store
as actor store, ``--jobs`` jobs each through the jobs API), in a temporary ``PYDAPR_HOME`` with the
control plane ``pydapr run`` starts. The dashboard is ``pydapr dashboard`` in its own process. Each
refresh is one ``GET /fragment``, as htmx sends it; they are 1.2 s apart, beyond the dashboard's
one-second reuse of a refresh, so every one is a full refresh.

Figures per refresh:
- dashboard CPU: utime+stime of the dashboard process over the refreshes / refreshes;
- wall: the request's time seen by the client (p50, p95);
- sidecar CPU: the sidecars' CPU over the refreshes, less their CPU over an idle window of the same
  length just before, / refreshes (all sidecars together, and per sidecar).
With N apps, then: one sidecar SIGSTOPped (alive, listening, not answering), the wall time of a refresh.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import signal
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CLK_TCK, Procs, cpu_ticks, free_port, machine, pct

STORE = textwrap.dedent(
    """
    apiVersion: dapr.io/v1alpha1
    kind: Component
    metadata:
      name: statestore
    spec:
      type: state.in-memory
      version: v1
      metadata:
      - name: actorStateStore
        value: "true"
    """
)
SPACING = 1.2  # s between refreshes: past the dashboard's max_age (1 s) of a refresh


def request(port: int, method: str, path: str, body: bytes = b"", timeout: float = 10.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body or None)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def daprd_pid(home: Path, app_id: str, timeout: float = 30.0) -> int:
    """The sidecar's pid, from the registry entry it writes once it serves."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entries = list((home / "registry" / "default" / app_id).glob("*.json"))
        if entries:
            return int(json.loads(entries[0].read_text())["pid"])
        time.sleep(0.05)
    raise TimeoutError(f"{app_id} never registered")


def start_app(procs: Procs, env: dict[str, str], resources: Path, home: Path, n: int, jobs: int) -> int:
    app_id, http_port = f"bench-{n:02d}", free_port()
    procs.spawn(
        [sys.executable, "-m", "pydapr", "run", "-a", app_id, "-H", str(http_port), "-G", str(free_port()),
         "-M", str(free_port()), "--log-level", "warn", "--resources-path", str(resources)],
        env=env,
    )  # fmt: skip
    pid = daprd_pid(home, app_id)
    deadline = time.monotonic() + 30
    while True:  # outbound health: components loaded, scheduler connected
        with contextlib.suppress(OSError):
            if request(http_port, "GET", "/v1.0/healthz/outbound", timeout=1.0)[0] == 204:
                break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{app_id} not healthy")
        time.sleep(0.1)
    for j in range(jobs):
        spec = {"schedule": "0 */5 * * * *"} if j % 2 == 0 else {"schedule": "@every 1h", "repeats": 3}
        status, body = request(http_port, "POST", f"/v1.0-alpha1/jobs/job-{j}", json.dumps(spec).encode())
        assert status == 204, (status, body)
    return pid


def sidecar_ticks(pids: list[int]) -> int:
    return sum(cpu_ticks(p) for p in pids)


def refreshes(port: int, count: int) -> list[float]:
    walls = []
    for _ in range(count):
        started = time.perf_counter()
        status, body = request(port, "GET", "/fragment")
        walls.append(time.perf_counter() - started)
        assert status == 200 and b'id="apps"' in body, (status, body[:300])
        time.sleep(max(SPACING - walls[-1], 0.0))
    return walls


def measure(dash_port: int, dash_pid: int, sidecars: list[int], count: int) -> dict[str, float]:
    window = count * SPACING
    idle0 = sidecar_ticks(sidecars)
    time.sleep(window)
    idle = sidecar_ticks(sidecars) - idle0
    d0, s0 = cpu_ticks(dash_pid), sidecar_ticks(sidecars)
    walls = refreshes(dash_port, count)
    dash, busy = cpu_ticks(dash_pid) - d0, sidecar_ticks(sidecars) - s0
    ms = 1000 / CLK_TCK / count
    return {
        "dash_cpu_ms": dash * ms,
        "wall_p50_ms": pct(walls, 50),  # pct: seconds in, milliseconds out
        "wall_p95_ms": pct(walls, 95),
        "sidecars_cpu_ms": max(busy - idle, 0) * ms,
        "per_sidecar_cpu_ms": max(busy - idle, 0) * ms / len(sidecars),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--apps", default="1,5,10,20", help="app counts to measure at, ascending")
    parser.add_argument("--refreshes", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2, help="jobs per app")
    args = parser.parse_args()
    counts = [int(c) for c in args.apps.split(",")]
    print(f"# {machine()}; {args.refreshes} refreshes {SPACING} s apart; {args.jobs} jobs per app")
    print(
        "| apps | dashboard CPU ms / refresh | wall p50 ms | wall p95 ms | sidecars' CPU ms | per sidecar |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="pydapr-bench-dashboard-") as tmp, Procs() as procs:
        home, resources = Path(tmp) / "home", Path(tmp) / "resources"
        home.mkdir()
        resources.mkdir()
        (resources / "statestore.yaml").write_text(STORE)
        env = {**os.environ, "PYDAPR_HOME": str(home)}
        dash_port = free_port()
        dash = procs.spawn([sys.executable, "-m", "pydapr", "dashboard", "-p", str(dash_port)], env=env)
        sidecars: list[int] = []
        try:
            for n in counts:
                while len(sidecars) < n:
                    sidecars.append(start_app(procs, env, resources, home, len(sidecars), args.jobs))
                time.sleep(2.0)  # let start-up work (placement, scheduler watch) settle
                body = request(dash_port, "GET", "/fragment")[1]
                rows = len(re.findall(rb'<span class="app-id">', body))
                assert rows == n, f"the dashboard lists {rows} apps, {n} run"
                r = measure(dash_port, dash.pid, sidecars, args.refreshes)
                cells = [f"{r['dash_cpu_ms']:.1f}", f"{r['wall_p50_ms']:.0f}", f"{r['wall_p95_ms']:.0f}",
                         f"{r['sidecars_cpu_ms']:.1f}", f"{r['per_sidecar_cpu_ms']:.2f}"]  # fmt: skip
                print(f"| {n} | " + " | ".join(cells) + " |", flush=True)
            # One sidecar hangs: stopped, its sockets still accepting, nothing answering.
            os.kill(sidecars[0], signal.SIGSTOP)
            try:
                walls = refreshes(dash_port, 5)
            finally:
                os.kill(sidecars[0], signal.SIGCONT)
            print(f"\nwith {len(sidecars)} apps, one sidecar SIGSTOPped: refresh wall p50 "
                  f"{pct(walls, 50):.0f} ms, max {max(walls) * 1000:.0f} ms")  # fmt: skip
        finally:
            for proc in reversed(procs.procs):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: pydapr run stops its sidecar
            time.sleep(2.0)
            from pydapr.controlplane import stop as stop_control_plane

            stop_control_plane(home)


if __name__ == "__main__":
    main()
