"""Workflow throughput and latency through one pydapr sidecar, with a worker written with the official
Python SDK (``dapr.ext.workflow.WorkflowRuntime``), in the shapes of Dapr's own workflow perf tests
(dapr/dapr tests/perf/workflows, app tests/apps/perf/workflowsapp/app.py):

  parallel: ``sum_parallel_wf``, input 100: five ``sum_activity`` calls at once (when_all), summed;
            Dapr runs 110 VUs over 440 iterations (TestParallelWorkflowWithMaxVUs).
  series:   ``sum_series_wf``, input 100: five ``sum_activity`` calls one after the other;
            Dapr runs 350 VUs over 1400 iterations (TestSeriesWorkflowWithMaxVUs).
  latency:  ``delay_wf`` with a 0 ms delay (one activity), one instance at a time: start to
            completion as the client sees it, p50/p90/p99.

A VU is a loop that starts a workflow and waits for its completion, then starts the next; workflows
per second is iterations / wall time of the run. Dapr's app sleeps 0.5 s between start and wait and
goes through its own Flask endpoint; this script leaves both out (the client is the SDK's
``dapr.ext.workflow.aio.DaprWorkflowClient`` in this process, gRPC straight to the sidecar).

Processes: ``pydapr placement``, ``pydapr scheduler`` (SQLite), one sidecar (no app port) with a
Redis (default) or SQLite actor state store, and the worker (this script's ``--serve-worker`` mode).

    python bench/workflows.py [--store redis|sqlite] [--parallel-vus 110 --parallel-iterations 440]
        [--series-vus 350 --series-iterations 1400] [--latency-samples 200] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

# --- the worker (a separate process) --------------------------------------------------------------


def serve_worker(port: int) -> None:
    import threading

    import dapr.ext.workflow as wf

    runtime = wf.WorkflowRuntime(host="127.0.0.1", port=str(port))

    def sum_activity(ctx: wf.WorkflowActivityContext, bounds: str) -> int:
        low, high = (int(x) for x in bounds.split(","))
        return sum(range(low, high + 1))

    def delay_activity(ctx: wf.WorkflowActivityContext, ms: int) -> None:
        if ms:
            time.sleep(ms / 1000)

    def ranges(num: int) -> list[str]:
        limit = num // 5
        return [f"{i * limit + 1},{(i + 1) * limit if i < 4 else num}" for i in range(5)]

    def sum_series_wf(ctx: wf.DaprWorkflowContext, num: int):  # type: ignore[no-untyped-def]
        total = 0
        for bounds in ranges(num):
            total += yield ctx.call_activity(sum_activity, input=bounds)
        assert total == num * (num + 1) // 2
        return total

    def sum_parallel_wf(ctx: wf.DaprWorkflowContext, num: int):  # type: ignore[no-untyped-def]
        parts = yield wf.when_all([ctx.call_activity(sum_activity, input=b) for b in ranges(num)])
        assert sum(parts) == num * (num + 1) // 2
        return sum(parts)

    def delay_wf(ctx: wf.DaprWorkflowContext, ms: int):  # type: ignore[no-untyped-def]
        yield ctx.call_activity(delay_activity, input=ms)

    for activity in (sum_activity, delay_activity):
        runtime.register_activity(activity)
    for workflow in (sum_series_wf, sum_parallel_wf, delay_wf):
        runtime.register_workflow(workflow)
    runtime.start()
    threading.Event().wait()


# --- the mesh ---------------------------------------------------------------------------------------


def store_yaml(kind: str, folder: Path) -> str:
    if kind == "redis":
        spec = (
            "  type: state.redis\n  version: v1\n  metadata:\n"
            "  - name: redisHost\n    value: 127.0.0.1:6379\n"
        )
    else:
        spec = (
            "  type: state.sqlite\n  version: v1\n  metadata:\n  - name: connectionString\n"
            f'    value: "{folder / "actors.db"}"\n'
        )
    return (
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: actorstore\nspec:\n"
        + spec
        + '  - name: actorStateStore\n    value: "true"\n'
    )


def start_mesh(procs: c.Procs, folder: Path, store: str, app_id: str) -> tuple[int, dict[str, int]]:
    """Starts placement, scheduler, the sidecar and the worker; returns the sidecar's gRPC port and
    the pids whose CPU each case reports (sidecar, worker, scheduler)."""
    env = {**os.environ, "PYDAPR_HOME": str(folder / "home"), "PYTHONUNBUFFERED": "1"}
    placement, scheduler, http_port, grpc_port, metrics = c.free_ports(5)
    py = [sys.executable, "-m", "pydapr"]
    procs.spawn([*py, "placement", "--port", str(placement), "--id", "bench",
                 "--store", f"sqlite://{folder}/placement.db"], env)  # fmt: skip
    sched = procs.spawn(
        [*py, "scheduler", "--port", str(scheduler), "--storage", f"sqlite://{folder}/jobs.db"], env
    )
    c.wait_port(placement)
    c.wait_port(scheduler)
    resources = folder / "resources"
    resources.mkdir()
    (resources / "actorstore.yaml").write_text(store_yaml(store, folder))
    sidecar = procs.spawn([
        *py, "sidecar", "--app-id", app_id, "--dapr-http-port", str(http_port),
        "--dapr-grpc-port", str(grpc_port), "--metrics-port", str(metrics),
        "--resources-path", str(resources), "--placement-host-address", f"127.0.0.1:{placement}",
        "--scheduler-host-address", f"127.0.0.1:{scheduler}", "--log-level", "warn",
    ], env)  # fmt: skip
    c.wait_status(http_port, "/v1.0/healthz", proc=sidecar)
    # Ready once a workflow completes (wait_worker): that is what the benchmark needs of it.
    worker = procs.spawn([sys.executable, __file__, "--serve-worker", str(grpc_port)], env)
    return grpc_port, {"sidecar": sidecar.pid, "worker": worker.pid, "scheduler": sched.pid}


# --- the load ---------------------------------------------------------------------------------------


async def run_vus(port: int, workflow: str, vus: int, iterations: int, arg: int) -> tuple[float, list[float]]:
    """``vus`` loops share ``iterations`` runs of ``workflow``; returns wall seconds and latencies."""
    from dapr.ext.workflow import WorkflowStatus
    from dapr.ext.workflow.aio import DaprWorkflowClient

    client = DaprWorkflowClient(host="127.0.0.1", port=str(port))
    left = iterations
    latencies: list[float] = []
    failed: list[str] = []

    async def vu() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            t0 = time.perf_counter()
            instance_id = await client.schedule_new_workflow(
                workflow, input=arg, instance_id=uuid.uuid4().hex
            )
            state = await client.wait_for_workflow_completion(instance_id, timeout_in_seconds=120)
            latencies.append(time.perf_counter() - t0)
            if state is None or state.runtime_status != WorkflowStatus.COMPLETED:
                failed.append(f"{instance_id}: {state}")

    started = time.perf_counter()
    await asyncio.gather(*(vu() for _ in range(vus)))
    wall = time.perf_counter() - started
    if failed:
        raise RuntimeError(f"{len(failed)} of {iterations} {workflow} runs did not complete: {failed[:3]}")
    return wall, latencies


async def wait_worker(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            await asyncio.wait_for(run_vus(port, "delay_wf", 1, 1, 0), timeout=10)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


def throughput(wall: float, lat: list[float]) -> str:
    return f"{len(lat) / wall:.1f} wf/s; latency p50 {c.pct(lat, 50):.0f} ms, p90 {c.pct(lat, 90):.0f} ms"


class CpuPerWorkflow:
    """CPU (utime + stime) each process spent per workflow over one case: on a shared machine the
    figure that compares two trees, where the rate moves with the load."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.start = self._ticks()

    def _ticks(self) -> dict[str, int]:
        return {name: c.cpu_ticks(pid) for name, pid in self.pids.items()}

    def per(self, runs: int) -> str:
        end = self._ticks()
        tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
        parts = [f"{n} {(end[n] - self.start[n]) * tick_ms / runs:.1f}" for n in self.pids]
        return "; CPU ms per workflow: " + ", ".join(parts)


async def bench(args: argparse.Namespace, port: int, pids: dict[str, int]) -> list[tuple[str, str]]:
    await wait_worker(port)
    rows: list[tuple[str, str]] = []
    p_vus, p_runs = args.parallel_vus, args.parallel_iterations
    s_vus, s_runs = args.series_vus, args.series_iterations
    for r in range(1, args.rounds + 1):
        await run_vus(port, "sum_parallel_wf", min(20, p_vus), 40, 100)  # warm-up
        cpu = CpuPerWorkflow(pids)
        wall, lat = await run_vus(port, "sum_parallel_wf", p_vus, p_runs, 100)
        rows.append(
            (
                f"parallel (5 activities at once), {p_vus} VUs, {p_runs} runs [{r}]",
                throughput(wall, lat) + cpu.per(p_runs),
            )
        )
        cpu = CpuPerWorkflow(pids)
        wall, lat = await run_vus(port, "sum_series_wf", s_vus, s_runs, 100)
        rows.append(
            (
                f"series (5 activities in turn), {s_vus} VUs, {s_runs} runs [{r}]",
                throughput(wall, lat) + cpu.per(s_runs),
            )
        )
        _, lat = await run_vus(port, "delay_wf", 1, args.latency_samples, 0)
        figures = ", ".join(f"p{p} {c.pct(lat, p):.1f} ms" for p in (50, 90, 99))
        rows.append(
            (
                f"one activity, one at a time, {args.latency_samples} runs [{r}]",
                f"start to completed {figures}",
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--serve-worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--store", choices=["redis", "sqlite"], default="redis")
    parser.add_argument("--parallel-vus", type=int, default=110)
    parser.add_argument("--parallel-iterations", type=int, default=440)
    parser.add_argument("--series-vus", type=int, default=350)
    parser.add_argument("--series-iterations", type=int, default=1400)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    if args.serve_worker:
        serve_worker(args.serve_worker)
        return

    app_id = "wfbench" + uuid.uuid4().hex[:6]
    with tempfile.TemporaryDirectory(prefix="wfbench-") as tmp, c.Procs() as procs:
        try:
            port, pids = start_mesh(procs, Path(tmp), args.store, app_id)
            rows = asyncio.run(bench(args, port, pids))
        finally:
            if args.store == "redis":
                import redis

                client = redis.Redis(host="127.0.0.1", port=6379)
                for key in client.scan_iter(match=f"{app_id}*"):
                    client.delete(key)
    print(f"machine: {c.machine()}; actor store: {args.store}")
    width = max(len(name) for name, _ in rows)
    for name, figure in rows:
        print(f"{name:<{width}}  {figure}")


if __name__ == "__main__":
    main()
