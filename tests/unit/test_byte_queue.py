"""The stream buffer is bounded in bytes."""

from __future__ import annotations

import asyncio

from gridtwin.core.queues import ByteBoundedQueue


async def test_put_waits_while_the_byte_budget_is_held_and_resumes_when_drained():
    queue = ByteBoundedQueue(max_bytes=100)
    await queue.put("a", 60)
    blocked = asyncio.create_task(queue.put("b", 60))
    await asyncio.sleep(0.05)
    assert not blocked.done() and queue.held_bytes == 60
    assert await queue.get() == "a"
    await asyncio.wait_for(blocked, 5)
    assert queue.held_bytes == 60 and await queue.get() == "b"


async def test_an_item_larger_than_the_budget_passes_alone():
    queue = ByteBoundedQueue(max_bytes=10)
    await asyncio.wait_for(queue.put("big", 1000), 5)
    assert queue.get_nowait() == "big" and queue.empty()
