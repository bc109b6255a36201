"""A call through a chain of several interceptors leaves nothing for the garbage collector."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from pydapr.pipeline import Call, Direction, Operation, Pipeline


class _Pass:
    def interceptor(self, direction: Direction, target: str) -> Any:
        async def step(call: Call, proceed: Operation[Any]) -> Any:
            return await proceed()

        return step


def test_a_chained_call_makes_no_reference_cycle() -> None:
    pipeline = Pipeline([_Pass(), _Pass(), _Pass()])

    async def calls() -> None:
        chain = pipeline.chain(Direction.INBOUND_HTTP, "invoke")
        for _ in range(100):
            call = Call(Direction.INBOUND_HTTP, "invoke", "POST /v1.0/invoke/b/method/m")

            async def op() -> int:
                return 1

            assert await chain.run(call, op) == 1

    gc.collect()
    gc.disable()
    try:
        asyncio.run(calls())
        # Everything a call made was freed by reference counting: nothing unreachable is left.
        assert gc.collect() == 0
    finally:
        gc.enable()
