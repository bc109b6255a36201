"""A fake clock whose sleep advances time at once and records each wait."""

from __future__ import annotations

from pydapr.resiliency import PolicyEvent, Timing


class FakeTime:
    def __init__(self, rand: float = 0.5) -> None:
        self.now = 1000.0
        self.waits: list[float] = []
        self.events: list[PolicyEvent] = []
        self._rand = rand

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def rand(self) -> float:
        return self._rand

    def timing(self) -> Timing:
        return Timing(clock=self.clock, sleep=self.sleep, rand=self.rand)

    def advance(self, seconds: float) -> None:
        self.now += seconds
