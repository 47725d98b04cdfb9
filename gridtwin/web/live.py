"""The live feed's per-connection buffer: bounded, dropping the oldest item when full.

A WebSocket client that reads slowly must not hold up the gateway stream or the other
clients, and a dashboard wants the newest state rather than a growing backlog; so each
connection gets its own bounded queue, the producer never waits, and every item dropped is
counted (the count travels with the next message so the client can say it fell behind).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class DropOldestQueue(Generic[T]):
    """An asyncio queue of at most `maxsize` items whose `put` never blocks."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self.dropped = 0
        self._items: deque[T] = deque()
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T) -> None:
        if len(self._items) >= self.maxsize:
            self._items.popleft()
            self.dropped += 1
        self._items.append(item)
        self._ready.set()

    async def get(self) -> T:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()
