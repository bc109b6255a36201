"""``pydapr list`` with many apps running: the wall time of the whole command, as a user runs it.

Starts N sidecars in a private pydapr home (``pydapr sidecar``, or ``pydapr run -a ID`` without an
app with ``--mode run``, which adds a runner per app and the local control plane), waits until all
are registered, then runs ``pydapr list`` (the installed entry point, a new process each time: Python
start, click, registry, /proc, N metadata calls in parallel) R times, checking each prints N rows.

    python bench/cli_list.py [--apps 20] [--runs 20] [--mode sidecar|run] [--format table|json]
"""

from __future__ import annotations

import argparse
import json
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


def start(
    mode: str, app_id: str, ports: list[int], env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    http, grpc, metrics = (str(p) for p in ports)
    if mode == "run":
        argv = [str(PYDAPR), "run", "-a", app_id, "-H", http, "-G", grpc, "-M", metrics]
    else:
        argv = [str(PYDAPR), "sidecar", "--app-id", app_id, "-H", http, "-G", grpc, "-M", metrics]
    with log.open("wb") as out:
        return subprocess.Popen(
            argv,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def registered(env: dict[str, str]) -> set[str]:
    out = subprocess.run(
        [str(PYDAPR), "list", "-o", "json"], env=env, capture_output=True, text=True, timeout=30, check=True
    )
    return {row["appId"] for row in json.loads(out.stdout)}


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
        procs: list[subprocess.Popen[bytes]] = []
        try:
            t0 = time.monotonic()
            # All ports at once, so no two sidecars get the same one.
            ports = c.free_ports(3 * args.apps)
            ids = [f"bench-{i:02d}" for i in range(args.apps)]
            logs = [Path(home) / f"{app_id}.log" for app_id in ids]
            for i, app_id in enumerate(ids):
                procs.append(start(args.mode, app_id, ports[3 * i : 3 * i + 3], env, logs[i]))
            while missing := set(ids) - registered(env):
                ended = [(ids[i], p.returncode) for i, p in enumerate(procs) if p.poll() is not None]
                if ended or time.monotonic() - t0 > 300:
                    first = ids.index(sorted(missing)[0])
                    tail = logs[first].read_text(errors="replace")[-3000:]
                    raise SystemExit(f"not registered: {sorted(missing)}; exited: {ended}\n{tail}")
                time.sleep(1.0)
            print(f"{args.apps} sidecars ({args.mode}) ready in {time.monotonic() - t0:.1f} s")
            argv = [str(PYDAPR), "list", *(["-o", "json"] if args.format == "json" else [])]
            subprocess.run(argv, env=env, capture_output=True, check=True)  # warm the page cache
            # Each run of `pydapr list` is followed by one of the floor: the interpreter and click
            # alone, what no implementation of `list` can beat, measured under the same load.
            times, floor = [], []
            for _ in range(args.runs):
                t = time.perf_counter()
                out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True, timeout=30)
                times.append((time.perf_counter() - t) * 1000)
                rows = (
                    out.stdout.count('"appId"') if args.format == "json" else len(out.stdout.splitlines()) - 1
                )
                if rows != args.apps:
                    raise SystemExit(f"pydapr list printed {rows} apps, not {args.apps}:\n{out.stdout}")
                t = time.perf_counter()
                subprocess.run([sys.executable, "-c", "import click, pydapr.cli.main"], check=True, env=env)
                floor.append((time.perf_counter() - t) * 1000)
        finally:
            for proc in procs:
                c.stop(proc)
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
