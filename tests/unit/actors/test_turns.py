"""The turn lock: one call at a time per actor, reentrancy by Dapr-Reentrancy-Id, maxStackDepth."""

from __future__ import annotations

import asyncio

import pytest

from pydapr.actors import errors as E
from pydapr.actors.turns import TurnLock, TurnLockClosed
from pydapr.errors import DaprError


async def test_calls_take_turns_in_arrival_order() -> None:
    lock = TurnLock()
    order: list[str] = []
    running = 0
    peak = 0

    async def call(name: str) -> None:
        nonlocal running, peak
        turn = await lock.acquire()
        running += 1
        peak = max(peak, running)
        order.append(name)
        await asyncio.sleep(0.01)
        running -= 1
        turn.release()

    await asyncio.gather(*(call(str(i)) for i in range(5)))
    assert peak == 1
    assert order == ["0", "1", "2", "3", "4"]
    assert not lock.busy


async def test_without_reentrancy_the_same_id_waits_its_turn() -> None:
    lock = TurnLock(reentrancy=False)
    outer = await lock.acquire("abc")
    inner = asyncio.create_task(lock.acquire("abc"))
    await asyncio.sleep(0.01)
    assert not inner.done()  # it would deadlock a real reentrant call, as in daprd
    outer.release()
    (await inner).release()


async def test_reentrant_call_joins_the_turn_in_progress() -> None:
    lock = TurnLock(reentrancy=True)
    outer = await lock.acquire()
    other = asyncio.create_task(lock.acquire())  # another caller waits
    inner = await asyncio.wait_for(lock.acquire(outer.reentrancy_id), 1)
    assert inner.reentrancy_id == outer.reentrancy_id
    await asyncio.sleep(0.01)
    assert not other.done()
    inner.release()
    await asyncio.sleep(0.01)
    assert not other.done()  # the outer call still holds the turn
    outer.release()
    (await asyncio.wait_for(other, 1)).release()
    assert not lock.busy


async def test_reentrancy_generates_an_id_when_the_caller_has_none() -> None:
    lock = TurnLock(reentrancy=True)
    turn = await lock.acquire(None)
    assert len(turn.reentrancy_id) == 36
    turn.release()


async def test_max_stack_depth() -> None:
    lock = TurnLock(reentrancy=True, max_stack_depth=3)
    first = await lock.acquire("r")
    held = [first, await lock.acquire("r"), await lock.acquire("r")]
    with pytest.raises(DaprError) as info:
        await lock.acquire("r")
    assert info.value.kind is E.STACK_DEPTH
    assert info.value.code == "ERR_ACTOR_STACK_DEPTH"
    for turn in reversed(held):
        turn.release()
    assert not lock.busy


async def test_close_fails_the_waiting_calls_and_refuses_new_ones() -> None:
    lock = TurnLock()
    running = await lock.acquire()
    waiting = asyncio.create_task(lock.acquire())
    await asyncio.sleep(0)
    await lock.close(drain=None)
    with pytest.raises(TurnLockClosed):
        await waiting
    with pytest.raises(TurnLockClosed):
        await lock.acquire()
    running.release()


async def test_close_drains_the_call_in_progress() -> None:
    lock = TurnLock()
    running = await lock.acquire()
    asyncio.get_running_loop().call_later(0.05, running.release)
    await asyncio.wait_for(lock.close(drain=5.0), 1)
    assert not lock.busy


async def test_a_cancelled_waiter_gives_its_place_back() -> None:
    lock = TurnLock()
    running = await lock.acquire()
    waiting = asyncio.create_task(lock.acquire())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    running.release()
    (await asyncio.wait_for(lock.acquire(), 1)).release()
