"""Sidecar startup and idle memory with the default components, optionally against an earlier commit.

Each start is ``python -m pydapr sidecar --app-id rss --resources-path <home>/components`` with the
components ``pydapr init --slim`` writes (SQLite state store, embedded pub/sub), its own
``PYDAPR_HOME`` and free ports, no app. For every start it records:

- ready (wall): from spawning the process to ``GET /v1.0/healthz/outbound`` answering 204;
- CPU to ready: the sidecar's utime + stime (/proc/<pid>/stat) at that moment. It counts only the
  sidecar's own work, so it stays comparable on a machine that is busy with other things, where the
  wall time does not. On a shared VM it is still inflated by other load (a vCPU the host takes away
  while the process runs is counted as the process's time), never deflated: the minimum is printed
  beside the median, as the figure closest to the start's own work;
- idle RSS: VmRSS ``--idle`` seconds after ready.

Modules load from bytecode, as an installed pydapr's do: the caches are written by the warm-up start
to a ``PYTHONPYCACHEPREFIX`` under the bench's temporary directory.

``--before REV`` adds the same for a ``git worktree`` of REV (run with ``PYTHONPATH=<worktree>/src``
so its own sources load ahead of the editable install), interleaved start by start with this
checkout, so both see the same machine. ``--after REV`` measures a worktree of REV instead of the
checkout (whose uncommitted sources may be another change's work in progress). ``--metrics-off``
adds a variant with ``--enable-metrics=false``.

    python bench/startup.py --runs 10 [--before 89b9cc9] [--after 1f43ec6] [--metrics-off]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

REPO = c.REPO


@dataclass
class Variant:
    label: str
    src: Path  # the sources the sidecar runs (PYTHONPATH)
    home: Path  # its PYDAPR_HOME, with the components `pydapr init --slim` wrote
    extra: list[str] = field(default_factory=list)
    ready_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        env = {**os.environ, "PYDAPR_HOME": str(self.home), "PYTHONPATH": str(self.src)}
        # As an installed pydapr runs: from bytecode (pip compiles it at install). Without this, a
        # PYTHONDONTWRITEBYTECODE environment compiles every module from source on every start
        # (~0.25 s here). The caches go under the bench's temporary directory, not the checkout.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(self.home.parent / "pycache")
        return env


def init_home(variant: Variant) -> None:
    variant.home.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pydapr", "init", "--slim"],
        env=variant.env(),
        check=True,
        capture_output=True,
        timeout=60,
    )


def start_once(variant: Variant, idle: float) -> None:
    http, grpc, metrics = c.free_ports(3)
    cmd = [
        sys.executable,
        "-m",
        "pydapr",
        "sidecar",
        "--app-id",
        "rss",
        "--resources-path",
        str(variant.home / "components"),
        "--dapr-http-port",
        str(http),
        "--dapr-grpc-port",
        str(grpc),
        "--metrics-port",
        str(metrics),
        *variant.extra,
    ]
    began = time.monotonic()
    proc = c.spawn(cmd, variant.env())
    try:
        ready = c.wait_status(http, "/v1.0/healthz/outbound", 204, 60, proc, interval=0.005)
        ticks = c.cpu_ticks(proc.pid)
        variant.ready_ms.append((ready - began) * 1000)
        variant.cpu_ms.append(ticks * 1000 / c.CLK_TCK)
        time.sleep(idle)
        variant.rss_mib.append(c.rss_kib(proc.pid) / 1024)
    finally:
        c.stop(proc)


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} / {c.percentile(values, 90):.0f}"


def cpu_summary(values: list[float]) -> str:
    return f"{min(values):.0f} / {summary(values)}"


def _remove_worktrees(tmp: Path, labels: list[str]) -> None:
    for label in labels:
        with contextlib.suppress(subprocess.CalledProcessError):
            c.git("worktree", "remove", "--force", str(tmp / label))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10, help="starts per variant")
    ap.add_argument("--idle", type=float, default=2.0, help="seconds after ready before reading RSS")
    ap.add_argument("--before", help="an earlier commit to measure in the same run")
    ap.add_argument("--after", help="measure this commit (a worktree) instead of the checkout")
    ap.add_argument("--metrics-off", action="store_true", help="also measure --enable-metrics=false")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="pydapr-startup-"))
    worktrees = [(label, rev) for label, rev in (("before", args.before), ("after", args.after)) if rev]
    before = None
    sources: list[tuple[str, Path]] = []
    added: list[str] = []
    try:
        for label, rev in worktrees:
            c.git("worktree", "add", "--detach", str(tmp / label), rev)
            added.append(label)
    except subprocess.CalledProcessError:
        _remove_worktrees(tmp, added)
        raise
    if args.before:
        before = c.git("rev-parse", "--short", "HEAD", cwd=tmp / "before")
        sources.append(("before", tmp / "before" / "src"))
    if args.after:
        after = c.git("rev-parse", "--short", "HEAD", cwd=tmp / "after")
        dirty = False
        sources.append(("after", tmp / "after" / "src"))
    else:
        after = c.git("rev-parse", "--short", "HEAD")
        dirty = bool(c.git("status", "--porcelain", "src"))
        sources.append(("after", REPO / "src"))
    variants: list[Variant] = []
    for label, src in sources:
        variants.append(Variant(label, src, tmp / f"home-{label}"))
        if args.metrics_off:
            variants.append(
                Variant(f"{label}, metrics off", src, tmp / f"home-{label}", ["--enable-metrics=false"])
            )
    try:
        for variant in variants:
            if not (variant.home / "components").is_dir():
                init_home(variant)
        for variant in variants:  # one warm-up start each: bytecode caches, the page cache
            start_once(variant, 0.0)
            variant.ready_ms.clear()
            variant.cpu_ms.clear()
            variant.rss_mib.clear()
        for run in range(args.runs):
            for variant in variants:
                start_once(variant, args.idle)
                print(
                    f"run {run + 1} {variant.label:18} ready {variant.ready_ms[-1]:6.0f} ms, "
                    f"CPU {variant.cpu_ms[-1]:5.0f} ms, RSS {variant.rss_mib[-1]:5.1f} MiB",
                    file=sys.stderr,
                )
    finally:
        _remove_worktrees(tmp, added)

    python = sys.version.split()[0]
    print(f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: {c.machine()}, Python {python}.")
    commits = f"after = {after}{' + uncommitted src' if dirty else ''}"
    if before:
        commits = f"before = {before}, {commits}"
    print(f"{commits}. {args.runs} starts per variant, interleaved, after one warm-up start each.")
    print()
    print(
        "| variant | ready, wall (ms) median / p90 | CPU to ready (ms) min / median / p90 "
        "| idle RSS (MiB) median / max |"
    )
    print("|---|---|---|---|")
    for v in variants:
        rss = f"{statistics.median(v.rss_mib):.1f} / {max(v.rss_mib):.1f}"
        print(f"| {v.label} | {summary(v.ready_ms)} | {cpu_summary(v.cpu_ms)} | {rss} |")


if __name__ == "__main__":
    main()
