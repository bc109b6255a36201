"""Start-to-ready of the test sidecar ``pydapr.testing`` starts (in-memory components by default).

Each round enters ``start_sidecar`` as the ``dapr_sidecar`` fixture does (free ports, its own
pydapr home, ``pydapr sidecar`` process, ``GET /v1.0/healthz/outbound`` until 204) and times it to
ready, notes the CPU the sidecar process used until then, then times the stop (SIGTERM, reaped).
``--app`` starts an app beside it (the standard library's HTTP server) and waits for
``GET /v1.0/healthz`` as the fixture does then.

Run: ``python bench/test_sidecar.py --rounds 20 [--app]``. Python compiles the sidecar's modules
on every start when bytecode is not cached (``PYTHONDONTWRITEBYTECODE=1`` with an editable
install): the script prints whether it is, and ``PYTHONPYCACHEPREFIX=DIR`` gives a cache outside
the tree.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pydapr.testing import App, SidecarConfig
from pydapr.testing.sidecar import start_sidecar


def _cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used so far: unlike wall time, barely moved by other
    jobs on the machine, so it bounds what start-to-ready would be on an idle one."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def _line(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"{name:>14}: median {statistics.median(ms):7.1f} ms   p90 {_p90(ms):7.1f} ms   "
        f"min {min(ms):7.1f} ms   max {max(ms):7.1f} ms   (n={len(ms)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=1, help="rounds not counted (page cache, bytecode)")
    parser.add_argument("--app", action="store_true", help="an app beside the sidecar")
    args = parser.parse_args()

    app = None
    if args.app:
        app = App([sys.executable, "-m", "http.server", "{app_port}", "--bind", "127.0.0.1"])
    config = SidecarConfig(app=app)
    cached = not (os.environ.get("PYTHONDONTWRITEBYTECODE") and not os.environ.get("PYTHONPYCACHEPREFIX"))
    print(f"bytecode cached between starts: {'yes' if cached else 'no (PYTHONDONTWRITEBYTECODE)'}")
    ready: list[float] = []
    cpu: list[float] = []
    stop: list[float] = []
    with tempfile.TemporaryDirectory(prefix="pydapr-bench-") as tmp:
        for i in range(args.warmup + args.rounds):
            started = time.perf_counter()
            with start_sidecar(config, Path(tmp) / f"round-{i}") as sidecar:
                up = time.perf_counter()
                used = _cpu_seconds(sidecar.process.pid)
            if i >= args.warmup:
                ready.append(up - started)
                cpu.append(used)
                stop.append(time.perf_counter() - up)
    print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(_line("start-to-ready", ready))
    print(_line("sidecar CPU", cpu))
    print(_line("stop", stop))


if __name__ == "__main__":
    main()
