"""``pydapr list`` with many apps running: the wall time of the whole command, as a user runs it.

Starts N sidecars in a private pydapr home (``pydapr sidecar``, or ``pydapr run -a ID`` without an
app with ``--mode run``, which adds a runner per app and the local control plane), waits until all
are registered, then runs ``pydapr list`` (the installed entry point, a new process each time: Python
start, click, registry, /proc, N metadata calls in parallel) R times, checking each prints N rows.

    python bench/cli_list.py [--apps 20] [--runs 20] [--mode sidecar|run] [--format table|json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

PYDAPR = Path(sys.executable).parent / "pydapr"


def start(procs: c.Procs, mode: str, index: int, env: dict[str, str]) -> None:
    app_id = f"bench-{index:02d}"
    http, grpc, metrics = c.free_ports(3)
    if mode == "run":
        argv = [str(PYDAPR), "run", "-a", app_id, "-H", str(http), "-G", str(grpc), "-M", str(metrics)]
    else:
        argv = [
            str(PYDAPR),
            "sidecar",
            "--app-id",
            app_id,
            "-H",
            str(http),
            "-G",
            str(grpc),
            "-M",
            str(metrics),
        ]
    procs.spawn(argv, env)


def registered(env: dict[str, str]) -> int:
    out = subprocess.run(
        [str(PYDAPR), "list", "-o", "json"], env=env, capture_output=True, text=True, timeout=30, check=True
    )
    return out.stdout.count('"appId"')


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--apps", type=int, default=20)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--mode", choices=("sidecar", "run"), default="sidecar")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pydapr-bench-list-") as home:
        env = {**os.environ, "PYDAPR_HOME": home}
        with c.Procs() as procs:
            t0 = time.monotonic()
            for i in range(args.apps):
                start(procs, args.mode, i, env)
            while registered(env) < args.apps:
                if time.monotonic() - t0 > 300:
                    raise SystemExit(f"only {registered(env)} of {args.apps} sidecars registered in 300 s")
                time.sleep(1.0)
            print(f"{args.apps} sidecars ({args.mode}) ready in {time.monotonic() - t0:.1f} s")
            argv = [str(PYDAPR), "list", *(["-o", "json"] if args.format == "json" else [])]
            subprocess.run(argv, env=env, capture_output=True, check=True)  # warm the page cache
            times = []
            for _ in range(args.runs):
                t = time.perf_counter()
                out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True, timeout=30)
                times.append((time.perf_counter() - t) * 1000)
                rows = (
                    out.stdout.count('"appId"') if args.format == "json" else len(out.stdout.splitlines()) - 1
                )
                if rows != args.apps:
                    raise SystemExit(f"pydapr list printed {rows} apps, not {args.apps}:\n{out.stdout}")
            # The floor: the interpreter and click alone, what no implementation of `list` can beat.
            floor = []
            for _ in range(args.runs):
                t = time.perf_counter()
                subprocess.run([sys.executable, "-c", "import click, pydapr.cli.main"], check=True, env=env)
                floor.append((time.perf_counter() - t) * 1000)
        if args.mode == "run":
            from pydapr.controlplane import stop

            stop(Path(home))
    print(c.machine())
    print(
        f"pydapr list ({args.format}), {args.apps} apps, {args.runs} runs: "
        f"median {statistics.median(times):.0f} ms, min {min(times):.0f}, max {max(times):.0f}, "
        f"p90 {sorted(times)[int(0.9 * len(times))]:.0f}"
    )
    print(f"python + click import alone: median {statistics.median(floor):.0f} ms")


if __name__ == "__main__":
    main()
