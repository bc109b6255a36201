"""What Resiliency policies (``targets.apps``) cost service invocation: same run, interleaved.

Paths, loaded by ``hey`` at a fixed rate, 16 connections, 1 KiB POST (helpers from invoke_http.py):
  direct:  hey -> app /echo
  none:    hey -> sidecar A  (no Resiliency resource)            -> sidecar B -> app
  empty:   hey -> sidecar A2 (Resiliency `spec: {policies: {}, targets: {}}`) -> sidecar B -> app
  policy:  hey -> sidecar A3 (timeout 5s + constant retry, maxRetries 3, on target app B) -> B -> app
The policy is the caller's, so the callers differ and share one sidecar B. No call fails, so the
policy case measures the policy's own cost. Figures: medians across rounds of each run's p50/p90/p99,
"added" = path - direct. ``--micro`` times the hot path in process instead.

    python bench/invoke_resiliency.py [--rates 1000] [--duration 8] [--rounds 2]
    python bench/invoke_resiliency.py --micro
    python bench/invoke_resiliency.py --before /tmp/before   # adds callers running an older tree

``--before DIR`` adds two callers (no resource, timeout+retry) run from ``DIR/src`` (e.g. a
``git worktree add /tmp/before <commit>``), interleaved with the rest, for a before/after in one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c
from invoke_http import BODY_SIZE, CONCURRENCY, env_with_home, sidecar_cmd

EMPTY = """apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: empty
spec:
  policies: {}
  targets: {}
"""

POLICY = """apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: invoke-b
spec:
  policies:
    timeouts:
      general: 5s
    retries:
      three:
        policy: constant
        duration: 50ms
        maxRetries: 3
  targets:
    apps:
      B:
        timeout: general
        retry: three
"""


def write_dir(root: str, name: str, text: str) -> str:
    d = os.path.join(root, name)
    os.makedirs(d)
    Path(d, "resiliency.yaml").write_text(text)
    return d


def compiled(path: str):
    from pydapr.resiliency import compile_policies
    from pydapr.resources import load_resources

    res = load_resources([Path(path)], app_id="A")
    return res.resiliencies, compiled_policies(compile_policies, res.resiliencies)


def compiled_policies(compile_policies, resiliencies):
    return compile_policies(resiliencies, app_id="A")


def micro(n: int) -> None:
    import uvloop

    with tempfile.TemporaryDirectory() as root:
        _, empty = compiled(write_dir(root, "empty", EMPTY))
        _, pol = compiled(write_dir(root, "policy", POLICY))
    b = pol.for_app("B", "echo")
    assert not b.noop and b.timeout == 5.0 and b.retry is not None
    assert empty.for_app("B", "echo").noop

    def per_call(fn) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t0) / n * 1e9

    lookup_empty = per_call(lambda: empty.for_app("B", "echo").noop)
    lookup_policy = per_call(lambda: pol.for_app("B", "echo").noop)

    async def trivial() -> int:
        return 1

    async def arun() -> dict[str, float]:
        out = {}
        for label, call in (
            ("await trivial()", trivial),
            ("await NOOP-policy.run(trivial)", lambda: empty.for_app("B", "echo").run(trivial)),
            ("await timeout+retry policy.run(trivial)", lambda: b.run(trivial)),
        ):
            for _ in range(1000):
                await call()
            t0 = time.perf_counter()
            for _ in range(n):
                await call()
            out[label] = (time.perf_counter() - t0) / n * 1e9
        return out

    timed = uvloop.run(arun())
    print(f"| operation ({n:,} iterations, uvloop) | ns per call |")
    print("|---|---|")
    print(f"| `for_app('B', 'echo').noop`, empty resource (NOOP) | {lookup_empty:,.0f} |")
    print(f"| `for_app('B', 'echo').noop`, timeout+retry target | {lookup_policy:,.0f} |")
    for k, v in timed.items():
        print(f"| `{k}` | {v:,.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="1000")
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--micro", action="store_true")
    ap.add_argument("--iterations", type=int, default=200_000)
    ap.add_argument("--before", help="source tree of an earlier commit; its callers run from DIR/src")
    args = ap.parse_args()
    if args.micro:
        micro(args.iterations)
        return
    rates = [int(r) for r in args.rates.split(",")]
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as home, c.Procs() as procs, c.body_file(BODY_SIZE) as body:
        empty_dir = write_dir(home, "res-empty", EMPTY)
        policy_dir = write_dir(home, "res-policy", POLICY)
        # both resources load: one Resiliency each; the empty one compiles to NOOP for B
        for d, noop in ((empty_dir, True), (policy_dir, False)):
            resil, pol = compiled(d)
            assert len(resil) == 1 and pol.for_app("B", "echo").noop is noop, d
        env = env_with_home(home)
        app_port = c.free_port()
        app = procs.spawn(
            [sys.executable, str(Path(__file__).with_name("invoke_http.py")), "--serve-app", str(app_port)]
        )
        c.wait_port(app_port)
        ports = c.free_ports(18)
        side_b = procs.spawn(sidecar_cmd("B", *ports[0:3], app_port), env)
        callers = {}
        cases = [("none", "A", None, env), ("empty", "A2", empty_dir, env), ("policy", "A3", policy_dir, env)]
        if args.before:
            before_env = {**env, "PYTHONPATH": str(Path(args.before, "src").resolve())}
            cases += [
                ("before:none", "Ab", None, before_env),
                ("before:policy", "Ab3", policy_dir, before_env),
            ]
        for i, (name, app_id, res, case_env) in enumerate(cases):
            http, grpc, metrics = ports[3 + 3 * i : 6 + 3 * i]
            proc = procs.spawn(sidecar_cmd(app_id, http, grpc, metrics, None, res), case_env)
            callers[name] = (proc, http)
        c.wait_status(ports[0], "/v1.0/healthz", 204, 30, side_b)
        for proc, http in callers.values():
            c.wait_status(http, "/v1.0/healthz/outbound", 204, 30, proc)
        urls = {"direct": f"http://127.0.0.1:{app_port}/echo"}
        urls |= {n: f"http://127.0.0.1:{http}/v1.0/invoke/B/method/echo" for n, (_, http) in callers.items()}
        results: dict[tuple[int, str], list] = {}
        for rate in rates:
            qps = rate / CONCURRENCY
            for url in urls.values():
                c.hey(url, args.warmup, CONCURRENCY, qps, "POST", body)
            for r in range(args.rounds):
                for name, url in urls.items():
                    pids = {"app": app.pid}
                    if name != "direct":
                        pids |= {"A": callers[name][0].pid, "B": side_b.pid}
                    with c.ProcSampler(pids) as s:
                        x = c.hey(url, args.duration, CONCURRENCY, qps, "POST", body)
                    results.setdefault((rate, name), []).append((x, s.usage))
                    print(
                        f"{rate} round {r + 1} {name:<13} n={x.ok} p50={x.pct(50):.2f} p90={x.pct(90):.2f} "
                        f"p99={x.pct(99):.2f} non2xx={x.non_2xx}",
                        file=sys.stderr,
                        flush=True,
                    )
    load1 = os.getloadavg()
    print(f"Machine: {c.machine()}. Load average (1/5/15 min) before {load0}, after {load1}.")
    print()
    print(
        "| rate | path | p50 / p90 / p99 (ms) | added over direct p50 / p90 / p99 (ms) | ok / expected "
        "| non-2xx | caller A CPU % | B CPU % |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for rate in rates:
        direct = [c.median([x.pct(p) for x, _ in results[(rate, "direct")]]) for p in (50, 90, 99)]
        for name in urls:
            runs = results[(rate, name)]
            med = [c.median([x.pct(p) for x, _ in runs]) for p in (50, 90, 99)]
            added = (
                "—"
                if name == "direct"
                else " / ".join(f"{m - d:+.2f}" for m, d in zip(med, direct, strict=True))
            )
            cpu = {
                k: (f"{c.median([u[k].cpu_pct for _, u in runs]):.0f}" if k in runs[0][1] else "—")
                for k in ("A", "B")
            }
            print(
                f"| {rate} | {name} | {' / '.join(f'{m:.2f}' for m in med)} | {added} | "
                f"{sum(x.ok for x, _ in runs)} / {int(rate * args.duration * args.rounds)} | "
                f"{sum(x.non_2xx for x, _ in runs)} | {cpu['A']} | {cpu['B']} |"
            )


if __name__ == "__main__":
    main()
