"""Service invocation through two sidecars of an earlier commit vs this checkout, in one run.

For a change on a hot path: the same echo app, two sidecar pairs (A -> B -> app), one pair from a
``git worktree`` of ``--before`` (run with ``PYTHONPATH=<worktree>/src``, so its own sources load
ahead of the editable install) and one from this checkout, each pair with its own ``PYDAPR_HOME``.
Runs are interleaved (direct, before, after, ...) after a warm-up of each; the figures are medians
across rounds of each run's percentiles.

    python bench/before_after.py --before a828120^ [--api grpc|http] [--rates 500,1000]

The load is bench/invoke_http.py's asyncio generator (16 workers): gRPC ``InvokeService`` on sidecar
A's gRPC port, or HTTP ``POST /v1.0/invoke/B/method/echo`` with pydapr's pooled client.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c
import invoke_http as ih

REPO = Path(__file__).resolve().parent.parent


def worktree(rev: str, where: Path) -> str:
    """A detached worktree of ``rev`` at ``where``; returns the commit's short id."""
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(where), rev],
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        ["git", "-C", str(where), "rev-parse", "--short", "HEAD"], check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True, help="the earlier commit (any git revision)")
    ap.add_argument("--api", choices=["grpc", "http"], default="grpc")
    ap.add_argument(
        "--rates", default="500,1000,max", help="total calls/s, comma-separated; max: unthrottled"
    )
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    rates = args.rates.split(",")
    after = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "src"], check=True, capture_output=True, text=True
    ).stdout.strip()

    tmp = Path(tempfile.mkdtemp(prefix="pydapr-before-after-"))
    before = worktree(args.before, tmp / "before")
    try:
        with c.Procs() as procs:
            app_port = c.free_port()
            procs.spawn([sys.executable, str(Path(ih.__file__)), "--serve-app", str(app_port)])
            c.wait_port(app_port, 10)
            pairs: dict[str, int] = {}  # label -> sidecar A's port for the API under load
            for label, src in (("before", str(tmp / "before" / "src")), ("after", str(REPO / "src"))):
                home = tmp / f"home-{label}"
                home.mkdir()
                env = {**ih.env_with_home(str(home)), "PYTHONPATH": src}
                a_http, a_grpc, a_metrics, b_http, b_grpc, b_metrics = c.free_ports(6)
                b = procs.spawn(ih.sidecar_cmd("B", b_http, b_grpc, b_metrics, app_port), env)
                a = procs.spawn(ih.sidecar_cmd("A", a_http, a_grpc, a_metrics, None), env)
                c.wait_status(b_http, "/v1.0/healthz", 204, 30, b)
                c.wait_status(a_http, "/v1.0/healthz/outbound", 204, 30, a)
                pairs[label] = a_grpc if args.api == "grpc" else a_http

            def run(label: str, seconds: float, rate: str) -> c.HeyResult:
                # Per worker, as invoke_http's generator paces each of its 16 workers; "max" never waits.
                qps = 1e9 if rate == "max" else int(rate) / ih.CONCURRENCY
                if label == "direct":
                    return ih.run_async_load("http", app_port, "/echo", seconds, qps)
                return ih.run_async_load(args.api, pairs[label], "/v1.0/invoke/B/method/echo", seconds, qps)

            labels = ("direct", "before", "after")
            results: dict[tuple[str, str], list[c.HeyResult]] = {}
            for rate in rates:
                for label in labels:
                    run(label, args.warmup, rate)
                for rnd in range(args.rounds):
                    for label in labels:
                        r = run(label, args.duration, rate)
                        results.setdefault((rate, label), []).append(r)
                        p = [r.pct(q) for q in (50, 90, 99)]
                        print(
                            f"{rate}/s round {rnd + 1} {label:6} n={len(r.latencies_ms)} "
                            f"p50={p[0]:.2f} p90={p[1]:.2f} p99={p[2]:.2f} ms errors={r.non_2xx}",
                            file=sys.stderr,
                        )
    finally:
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(tmp / "before")],
            check=False,
            capture_output=True,
        )

    print(f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: {c.machine()}.")
    print(
        f"API: {args.api}. before = {before}, after = {after}{' + uncommitted src' if dirty else ''}. "
        f"{args.rounds} rounds of {args.duration:g} s per path and rate, interleaved; medians across rounds."
    )
    print()
    print("| rate (calls/s) | path | p50 / p90 / p99 (ms) | added vs direct | calls/s | errors |")
    print("|---|---|---|---|---|---|")
    for rate in rates:
        direct = [c.median([r.pct(q) for r in results[(rate, "direct")]]) for q in (50, 90, 99)]
        for label in labels:
            rs = results[(rate, label)]
            med = [c.median([r.pct(q) for r in rs]) for q in (50, 90, 99)]
            added = (
                "-"
                if label == "direct"
                else " / ".join(f"{m - d:+.2f}" for m, d in zip(med, direct, strict=True))
            )
            achieved = c.median([r.rate for r in rs])
            errs = sum(r.non_2xx for r in rs)
            pcts = " / ".join(f"{m:.2f}" for m in med)
            print(f"| {rate} | {label} | {pcts} | {added} | {achieved:.0f} | {errs} |")


if __name__ == "__main__":
    main()
