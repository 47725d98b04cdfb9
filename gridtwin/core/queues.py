"""An asyncio queue bounded by the bytes it holds, not the number of items: a stream of
large readings (waveforms) cannot buffer more memory than its budget."""

from __future__ import annotations

import asyncio
from collections import deque


class ByteBoundedQueue:
    """FIFO whose `put(item, size)` waits while `max_bytes` are held.

    An item larger than the whole budget is still accepted when the queue is empty (it
    already passed the message-size limit), so a stream never deadlocks on one item.
    `put_nowait` ignores the budget: for end-of-stream sentinels.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.held_bytes = 0
        self._items: deque[tuple[object, int]] = deque()
        self._space = asyncio.Event()
        self._data = asyncio.Event()

    async def put(self, item: object, size: int) -> None:
        while self._items and self.held_bytes + size > self.max_bytes:
            self._space.clear()
            await self._space.wait()
        self.put_nowait(item, size)

    def put_nowait(self, item: object, size: int = 0) -> None:
        self._items.append((item, size))
        self.held_bytes += size
        self._data.set()

    async def get(self) -> object:
        while not self._items:
            self._data.clear()
            await self._data.wait()
        return self._take()

    def get_nowait(self) -> object:
        if not self._items:
            raise asyncio.QueueEmpty
        return self._take()

    def _take(self) -> object:
        item, size = self._items.popleft()
        self.held_bytes -= size
        self._space.set()
        return item

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        """Items held (the queue-depth metric counts items; `held_bytes` is the budget)."""
        return len(self._items)
