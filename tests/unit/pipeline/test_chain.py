"""Chains: built once per target from the sources, in order; the empty chain only awaits."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from pydapr.pipeline import Call, Direction, Interceptor, Operation, Pipeline, direct
from pydapr.pipeline.resiliency import ResiliencySource
from pydapr.resiliency import PolicyTimeout, compile_policies
from pydapr.resources.models import ComponentTargetPolicy, Resiliency, ResiliencyTargets, TargetPolicy

IN = Direction.OUTBOUND_COMPONENT


class Recording:
    def __init__(self, name: str, seen: list[str], only: str | None = None) -> None:
        self.name, self.seen, self.only = name, seen, only
        self.built: list[tuple[Direction, str]] = []

    def interceptor(self, direction: Direction, target: str) -> Interceptor | None:
        self.built.append((direction, target))
        if self.only is not None and target != self.only:
            return None

        async def step(call: Call, proceed: Operation[Any]) -> Any:
            self.seen.append(f"{self.name}>")
            try:
                return await proceed()
            finally:
                self.seen.append(f"<{self.name}")

        return step


def test_empty_chain_is_direct_and_cached() -> None:
    pipeline = Pipeline()
    chain = pipeline.chain(IN, "store")
    assert chain.empty and chain.run is direct
    assert pipeline.chain(IN, "store") is chain

    async def op() -> int:
        return 7

    assert asyncio.run(chain.run(Call(IN, "store"), op)) == 7


def test_steps_run_outermost_first_and_sources_are_asked_once_per_target() -> None:
    seen: list[str] = []
    first, second = Recording("a", seen), Recording("b", seen, only="store")
    pipeline = Pipeline([first, second])

    async def op() -> str:
        seen.append("op")
        return "done"

    async def main() -> None:
        for _ in range(3):
            assert await pipeline.run(Call(IN, "store", "get"), op) == "done"
        assert await pipeline.run(Call(IN, "other", "get"), op) == "done"

    asyncio.run(main())
    assert seen[:5] == ["a>", "b>", "op", "<b", "<a"]
    assert seen[-3:] == ["a>", "op", "<a"]  # "other": only the first source intercepts it
    assert first.built == [(IN, "store"), (IN, "other")]


def test_a_source_added_later_reaches_chains_built_before() -> None:
    seen: list[str] = []
    pipeline = Pipeline()
    assert pipeline.chain(IN, "x").empty
    pipeline.add(Recording("late", seen))
    assert not pipeline.chain(IN, "x").empty


def test_an_interceptor_may_refuse() -> None:
    class Refuse:
        def interceptor(self, direction: Direction, target: str) -> Interceptor | None:
            async def no(call: Call, proceed: Operation[Any]) -> Any:
                raise PermissionError(call.operation)

            return no

    called = []

    async def op() -> None:
        called.append(1)

    with pytest.raises(PermissionError, match="save"):
        asyncio.run(Pipeline([Refuse()]).run(Call(IN, "s", "save"), op))
    assert called == []


def test_resiliency_source_intercepts_only_targets_with_policies() -> None:
    policies = compile_policies(
        [
            Resiliency(
                name="r",
                source=Path("r.yaml"),
                timeouts={"fast": 0.05},
                targets=ResiliencyTargets(
                    components={"slowstore": ComponentTargetPolicy(outbound=TargetPolicy(timeout="fast"))}
                ),
            )
        ]
    )
    source = ResiliencySource(policies)
    assert source.interceptor(IN, "otherstore") is None
    assert source.interceptor(Direction.INBOUND_COMPONENT, "slowstore") is None
    step = source.interceptor(IN, "slowstore")
    assert step is not None

    async def slow() -> None:
        await asyncio.sleep(1)

    with pytest.raises(PolicyTimeout):
        asyncio.run(step(Call(IN, "slowstore", "get"), slow))


def test_a_chain_of_observers_only_leaves_the_blocks_default_policy_on() -> None:
    """Tracing and metrics mark their steps observes_only: pub/sub keeps its default retries and
    bindings their until-delivered policy behind them; a Resiliency step governs the call."""

    async def watch(call: Call, proceed: Operation[Any]) -> Any:
        return await proceed()

    watch.observes_only = True  # type: ignore[attr-defined]

    class Watching:
        def interceptor(self, direction: Direction, target: str) -> Interceptor | None:
            return watch

    empty = Pipeline().chain(IN, "c")
    watched = Pipeline([Watching()]).chain(IN, "c")
    governed = Pipeline([Watching(), Recording("r", [])]).chain(IN, "c")
    assert (empty.observes_only, watched.observes_only, governed.observes_only) == (True, True, False)
