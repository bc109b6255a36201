"""What the call pipeline costs a call, in process: the chain's own overhead, before and after.

"before" is the call as building blocks made it without a pipeline (``await op()``); "after" is
the same call through ``pipeline.chain(direction, target).run(Call(...), op)`` with an empty chain
(what every target without a policy, access rule or logging gets), and through chains of 1 and 3
pass-through interceptors for scale. Same process, same run, interleaved in rounds, uvloop.

    python bench/pipeline_chain.py [--iterations 200000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pydapr.pipeline import Call, Direction, Interceptor, Operation, Pipeline

D = Direction.OUTBOUND_COMPONENT


class PassThrough:
    def interceptor(self, direction: Direction, target: str) -> Interceptor | None:
        async def step(call: Call, proceed: Operation[Any]) -> Any:
            return await proceed()

        return step


async def op() -> int:
    return 1


async def before(n: int) -> None:
    for _ in range(n):
        await op()


def through(pipeline: Pipeline, target: str):  # type: ignore[no-untyped-def]
    async def run(n: int) -> None:
        for _ in range(n):
            chain = pipeline.chain(D, target)  # the per-call lookup callers do
            await chain.run(Call(D, target, "get"), op)

    return run


def through_guarded(pipeline: Pipeline, target: str):  # type: ignore[no-untyped-def]
    """The hot-path form: skip building the Call when the chain is empty."""

    async def run(n: int) -> None:
        for _ in range(n):
            chain = pipeline.chain(D, target)
            if chain.empty:
                await op()
            else:
                await chain.run(Call(D, target, "get"), op)

    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    import uvloop

    empty = Pipeline()
    one = Pipeline([PassThrough()])
    three = Pipeline([PassThrough(), PassThrough(), PassThrough()])
    cases = {
        "before: await op()": before,
        "after: empty chain, Call built": through(empty, "store"),
        "after: empty chain, guarded (no Call)": through_guarded(empty, "store"),
        "1 pass-through interceptor": through(one, "store"),
        "3 pass-through interceptors": through(three, "store"),
    }
    results: dict[str, list[float]] = {k: [] for k in cases}

    async def rounds() -> None:
        for fn in cases.values():
            await fn(10_000)  # warm-up
        for _ in range(args.rounds):
            for label, fn in cases.items():
                t0 = time.perf_counter()
                await fn(args.iterations)
                results[label].append((time.perf_counter() - t0) / args.iterations * 1e9)

    uvloop.run(rounds())
    base = statistics.median(results["before: await op()"])
    print(f"| case | ns per call (median of {args.rounds} rounds) | added over before |")
    print("|---|---|---|")
    for label, values in results.items():
        med = statistics.median(values)
        added = "—" if label.startswith("before") else f"+{med - base:.0f}"
        print(f"| {label} | {med:.0f} | {added} |")


if __name__ == "__main__":
    main()
