"""A small stand-in for asyncio.Queue, for the fast variant's layer (kit/fast/layer.py)."""

import asyncio
import collections


class LocalQueue:
    """What the layer needs of an asyncio.Queue (put_nowait, get, qsize) in a fraction of its memory.
    Every device socket has one; an asyncio.Queue holds four deques (items, getters, putters and its
    Event's waiters), about 2.5 KiB, while this holds a deque only while messages wait."""

    __slots__ = ("maxsize", "items", "waiters")

    def __init__(self, maxsize):
        self.maxsize, self.items, self.waiters = maxsize, None, None

    def qsize(self):
        return len(self.items) if self.items else 0

    def empty(self):
        return not self.items

    def put_nowait(self, item):
        if self.items is None:
            self.items = collections.deque()
        if len(self.items) >= self.maxsize:
            raise asyncio.QueueFull
        self.items.append(item)
        for waiter in self.waiters or ():
            if not waiter.done():
                waiter.set_result(None)
                break

    async def get(self):
        while not self.items:
            waiter = asyncio.get_running_loop().create_future()
            self.waiters = (self.waiters or []) + [waiter]
            try:
                await waiter
            finally:  # a cancelled getter leaves the item, if any, for the next one
                self.waiters.remove(waiter)
                self.waiters = self.waiters or None
        item = self.items.popleft()
        if not self.items:
            self.items = None
        return item
