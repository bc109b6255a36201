"""Interceptor chains, built once per (direction, target) and cached.

A *source* (access rules, Resiliency, logging ...) is asked once per target whether it has an
interceptor for it; the chain is the sources' answers in order. A target nobody intercepts gets
``direct``, which only awaits the operation: the empty chain costs one call and one await
(bench/pipeline_chain.py measures it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

from .call import Call, Direction

T = TypeVar("T")
Operation = Callable[[], Awaitable[T]]


class Interceptor(Protocol):
    """Runs around one call: does its work, then ``await proceed()`` (or refuses by raising)."""

    def __call__(self, call: Call, proceed: Operation[Any], /) -> Awaitable[Any]: ...


class InterceptorSource(Protocol):
    """Builds the interceptor for one target, or None when it has nothing to do there."""

    def interceptor(self, direction: Direction, target: str) -> Interceptor | None: ...


async def direct(call: Call, proceed: Operation[T]) -> T:
    """The empty chain."""
    return await proceed()


class Chain:
    """The interceptors for one target, outermost first. ``await chain.run(call, operation)``."""

    __slots__ = ("direction", "empty", "observes_only", "run", "steps", "target")

    def __init__(self, direction: Direction, target: str, steps: Sequence[Interceptor]) -> None:
        self.direction = direction
        self.target = target
        self.steps = tuple(steps)
        self.empty = not self.steps
        # No step governs the call (tracing and metrics only watch it, marked ``observes_only``):
        # a block's own default policy (pub/sub's retries, bindings' until-delivered) still
        # applies then, as when the chain is empty. A Resiliency policy is a step that governs.
        self.observes_only = all(getattr(step, "observes_only", False) for step in self.steps)
        self.run: Callable[[Call, Operation[Any]], Awaitable[Any]]
        if self.empty:
            self.run = direct
        elif len(self.steps) == 1:
            self.run = self.steps[0]
        else:
            self.run = self._nested

    def _nested(self, call: Call, proceed: Operation[T]) -> Awaitable[T]:
        # Built from the innermost step outwards, each operation a closure over the next one only.
        # A closure that refers to itself (a recursive helper) would make a reference cycle per
        # call, holding the Call and the request until the garbage collector runs: with a few
        # thousand calls a second, that was most of the collector's work.
        # Not a coroutine itself: the outermost step's awaitable is the chain's, one frame less
        # for every await inside the call to pass through.
        steps = self.steps
        operation: Operation[Any] = proceed
        for index in range(len(steps) - 1, 0, -1):
            operation = _bind(steps[index], call, operation)
        return steps[0](call, operation)

    def __repr__(self) -> str:
        return f"Chain({self.direction.value}, {self.target!r}, {len(self.steps)} steps)"


def _bind(step: Interceptor, call: Call, following: Operation[Any]) -> Operation[Any]:
    """``step`` around ``following``, as the operation the step before it proceeds to."""
    return lambda: step(call, following)


class Pipeline:
    """All of the sidecar's chains. Sources are added at startup, before the first call."""

    def __init__(self, sources: Sequence[InterceptorSource] = ()) -> None:
        self._sources: list[InterceptorSource] = list(sources)
        # One dict per direction, so a lookup builds no key: this runs on every call.
        self._chains: dict[Direction, dict[str, Chain]] = {d: {} for d in Direction}

    def add(self, source: InterceptorSource) -> None:
        self._sources.append(source)
        for chains in self._chains.values():
            chains.clear()  # a chain built before must see the new source

    def chain(self, direction: Direction, target: str) -> Chain:
        try:
            return self._chains[direction][target]
        except KeyError:
            return self._build(direction, target)

    def _build(self, direction: Direction, target: str) -> Chain:
        steps = [
            step
            for step in (source.interceptor(direction, target) for source in self._sources)
            if step is not None
        ]
        built = self._chains[direction][target] = Chain(direction, target, steps)
        return built

    async def run(self, call: Call, operation: Operation[T]) -> T:
        """Run ``operation`` through the chain for the call's direction and target."""
        return await self.chain(call.direction, call.target).run(call, operation)  # type: ignore[no-any-return]
