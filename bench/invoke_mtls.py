"""Service invocation through two pydapr sidecars with mTLS on vs off, and the direct path, same run.

Paths, loaded by ``hey`` at fixed rates, 16 connections, 1 KiB POST body:
  direct:   hey -> app                                   /echo
  plain:    hey -> sidecar A  -> sidecar B  -> app       (no --enable-mtls)
  mTLS:     hey -> sidecar Am -> sidecar Bm -> app       (--enable-mtls, certificates from `pydapr sentry`)
Runs are interleaved (direct, plain, mTLS, ...) after a warm-up of each; figures are medians across
rounds of each run's p50/p90/p99. Dapr's published invocation figures are with mTLS on.

Also: start-to-ready of a sidecar (spawn to ``/v1.0/healthz/outbound`` 204, median of 5) without
and with mTLS, the latter including key generation and the certificate from Sentry.

The app is bench/invoke_http.py's echo server (asyncio protocols + httptools under uvloop).

    python bench/invoke_mtls.py [--rates 500,1000] [--duration 10] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

CONCURRENCY = 16
BODY_SIZE = 1024
ECHO_APP = Path(__file__).resolve().parent / "invoke_http.py"


def sidecar_cmd(
    app_id: str, http: int, grpc: int, metrics: int, app_port: int | None, mtls: list[str]
) -> list[str]:
    cmd = [sys.executable, "-m", "pydapr", "sidecar", "--app-id", app_id]
    if app_port is not None:
        cmd += ["--app-port", str(app_port)]
    cmd += ["--dapr-http-port", str(http), "--dapr-grpc-port", str(grpc), "--metrics-port", str(metrics)]
    return [*cmd, *mtls, "--log-level", "warn"]


def measure_startup(env: dict[str, str], mtls: list[str], times: int = 5) -> list[float]:
    took = []
    for i in range(times):
        with c.Procs() as procs:
            http, grpc, metrics = c.free_ports(3)
            t0 = time.monotonic()
            proc = procs.spawn(sidecar_cmd(f"start{i}", http, grpc, metrics, None, mtls), env)
            took.append((c.wait_status(http, "/v1.0/healthz/outbound", 204, 30, proc) - t0) * 1000.0)
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="500,1000", help="total req/s, comma-separated (multiples of 16)")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    if shutil.which("hey") is None:
        raise SystemExit("hey is not installed (apt-get install -y hey)")
    rates = [int(r) for r in args.rates.split(",")]
    lines: list[str] = []

    with tempfile.TemporaryDirectory() as home, c.Procs() as procs, c.body_file(BODY_SIZE) as body:
        sentry_port, app_port = c.free_ports(2)
        creds = Path(home) / "sentry"
        procs.spawn(
            [
                sys.executable,
                "-m",
                "pydapr",
                "sentry",
                "--port",
                str(sentry_port),
                "--issuer-credentials",
                str(creds),
            ]
        )
        c.wait_port(sentry_port)
        env = {**os.environ, "PYDAPR_HOME": home, "DAPR_TRUST_ANCHORS": (creds / "ca.crt").read_text()}
        mtls = ["--enable-mtls", "--sentry-address", f"127.0.0.1:{sentry_port}"]
        procs.spawn([sys.executable, str(ECHO_APP), "--serve-app", str(app_port)])
        c.wait_port(app_port)

        startup = {"plain": measure_startup(env, []), "mTLS": measure_startup(env, mtls)}

        urls: dict[str, str] = {"direct": f"http://127.0.0.1:{app_port}/echo"}
        pids: dict[str, dict[str, int]] = {}
        for label, callee, caller, flags in (("plain", "B", "A", []), ("mTLS", "Bm", "Am", mtls)):
            b_http, b_grpc, b_metrics, a_http, a_grpc, a_metrics = c.free_ports(6)
            side_b = procs.spawn(sidecar_cmd(callee, b_http, b_grpc, b_metrics, app_port, flags), env)
            side_a = procs.spawn(sidecar_cmd(caller, a_http, a_grpc, a_metrics, None, flags), env)
            c.wait_status(b_http, "/v1.0/healthz", 204, 30, side_b)
            c.wait_status(a_http, "/v1.0/healthz/outbound", 204, 30, side_a)
            urls[label] = f"http://127.0.0.1:{a_http}/v1.0/invoke/{callee}/method/echo"
            pids[label] = {"A": side_a.pid, "B": side_b.pid}

        results: dict[tuple[int, str], list[c.HeyResult]] = {}
        usage: dict[tuple[int, str], list[dict[str, c.Usage]]] = {}
        for rate in rates:
            runs, used = c.interleaved_hey(
                urls, pids, rate, warmup=args.warmup, duration=args.duration, rounds=args.rounds, body=body
            )
            for label in urls:
                results[(rate, label)] = runs[label]
                usage[(rate, label)] = used[label]

    lines.append(f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: {c.machine()}.")
    lines.append(
        f"Load: {CONCURRENCY} connections, 1 KiB POST, {args.rounds} rounds of {args.duration:g} s per path "
        f"and rate, interleaved after {args.warmup:g} s warm-up; medians across rounds."
    )
    lines.append("")
    lines.append(
        "| rate (req/s) | path | p50 / p90 / p99 (ms) | added vs direct p50 / p90 / p99 (ms) "
        "| sidecar A / B CPU (% of a core) | ok / expected | non-2xx |"
    )
    lines.append("|---|---|---|---|---|---|---|")
    for rate in rates:
        direct = [c.median([x.pct(p) for x in results[(rate, "direct")]]) for p in (50, 90, 99)]
        for label in ("direct", "plain", "mTLS"):
            runs = results[(rate, label)]
            med = [c.median([x.pct(p) for x in runs]) for p in (50, 90, 99)]
            added = (
                " / ".join(f"{m - d:+.2f}" for m, d in zip(med, direct, strict=True))
                if label != "direct"
                else "-"
            )
            cpu = "-"
            if label != "direct":
                u = usage[(rate, label)]
                cpu = " / ".join(f"{c.median([x[k].cpu_pct for x in u]):.0f}" for k in ("A", "B"))
            ok = sum(x.ok for x in runs)
            bad = sum(x.non_2xx for x in runs)
            lines.append(
                f"| {rate} | {label} | {' / '.join(f'{m:.2f}' for m in med)} | {added} | {cpu} | "
                f"{ok} / {int(rate * args.duration * args.rounds)} | {bad} |"
            )
    lines.append("")
    lines.append(
        "| sidecar start, no app (spawn to `/v1.0/healthz/outbound` 204) | median of 5 (ms) | all (ms) |"
    )
    lines.append("|---|---|---|")
    for label, took in startup.items():
        what = "mTLS off" if label == "plain" else "mTLS on (new key, CSR, certificate from Sentry)"
        lines.append(f"| {what} | {c.median(took):.0f} | {', '.join(f'{t:.0f}' for t in took)} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
