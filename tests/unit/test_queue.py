"""The queue contract: offer never blocks, full is an error, batches by size or age, drains."""

from __future__ import annotations

import asyncio
import time

import pytest

from observatory_ingest.pipeline.queue import BoundedQueue, Pending, QueueClosed, QueueFull


def item(rows: int) -> Pending:
    return Pending({"t": [(i,) for i in range(rows)]}, rows)


async def test_offer_counts_rows_and_refuses_when_full() -> None:
    queue = BoundedQueue(10)
    queue.offer(item(6))
    queue.offer(item(4))
    assert queue.size == 10
    with pytest.raises(QueueFull):
        queue.offer(item(1))
    assert queue.size == 10


async def test_an_oversized_item_is_taken_only_into_an_empty_queue() -> None:
    queue = BoundedQueue(10)
    queue.offer(item(25))
    assert queue.size == 25
    with pytest.raises(QueueFull):
        queue.offer(item(1))


async def test_take_returns_at_once_when_a_batch_is_full() -> None:
    queue = BoundedQueue(100)
    for _ in range(5):
        queue.offer(item(3))
    started = time.monotonic()
    batch = await queue.take(max_rows=9, max_wait=10)
    assert [i.rows for i in batch] == [3, 3, 3]
    assert time.monotonic() - started < 1
    assert queue.size == 6


async def test_take_waits_for_age_when_the_batch_is_small() -> None:
    queue = BoundedQueue(100)
    queue.offer(item(1))
    started = time.monotonic()
    batch = await queue.take(max_rows=50, max_wait=0.15)
    assert len(batch) == 1
    assert 0.1 <= time.monotonic() - started < 2


async def test_without_a_wait_a_small_batch_goes_at_once_with_everything_queued() -> None:
    # The writers' default (--flush-interval 0ms): what queued while they were busy is the batch.
    queue = BoundedQueue(100)
    for rows in (2, 3, 4):
        queue.offer(item(rows))
    started = time.monotonic()
    batch = await queue.take(max_rows=50, max_wait=0)
    assert [i.rows for i in batch] == [2, 3, 4]
    assert time.monotonic() - started < 0.05
    assert queue.size == 0


async def test_items_arriving_while_waiting_join_the_batch() -> None:
    queue = BoundedQueue(100)
    queue.offer(item(2))

    async def later() -> None:
        await asyncio.sleep(0.05)
        queue.offer(item(2))

    task = asyncio.create_task(later())
    batch = await queue.take(max_rows=4, max_wait=5)
    await task
    assert [i.rows for i in batch] == [2, 2]


async def test_whole_items_only_but_always_at_least_one() -> None:
    queue = BoundedQueue(100)
    queue.offer(item(8))
    queue.offer(item(8))
    batch = await queue.take(max_rows=5, max_wait=0)
    assert [i.rows for i in batch] == [8]


async def test_close_refuses_offers_and_take_drains_then_ends() -> None:
    queue = BoundedQueue(100)
    queue.offer(item(2))
    queue.offer(item(3))
    queue.close()
    with pytest.raises(QueueClosed):
        queue.offer(item(1))
    assert [i.rows for i in await queue.take(max_rows=100, max_wait=10)] == [2, 3]
    assert await queue.take(max_rows=100, max_wait=10) == []


async def test_close_wakes_a_waiting_taker() -> None:
    queue = BoundedQueue(100)
    waiter = asyncio.create_task(queue.take(max_rows=10, max_wait=10))
    await asyncio.sleep(0.01)
    queue.close()
    assert await asyncio.wait_for(waiter, 1) == []


async def test_two_takers_never_share_or_lose_an_item() -> None:
    queue = BoundedQueue(1000)
    takers = [asyncio.create_task(queue.take(max_rows=100, max_wait=0.05)) for _ in range(2)]
    await asyncio.sleep(0.01)
    offered = [item(1) for _ in range(10)]
    for one in offered:
        queue.offer(one)
    await asyncio.sleep(0.1)
    queue.close()
    taken = [i for batch in await asyncio.gather(*takers) for i in batch]
    while rest := await queue.take(max_rows=100, max_wait=0):
        taken.extend(rest)
    assert sorted(map(id, taken)) == sorted(map(id, offered))
    assert queue.size == 0


async def test_the_queue_is_also_bounded_by_estimated_memory() -> None:
    queue = BoundedQueue(capacity_rows=1000, capacity_bytes=100)
    queue.offer(Pending({"t": [(1,)]}, 1, memory=60))
    queue.offer(Pending({"t": [(2,)]}, 1, memory=30))
    with pytest.raises(QueueFull):
        queue.offer(Pending({"t": [(3,)]}, 1, memory=30))
    assert (queue.size, queue.memory) == (2, 90)


async def test_memory_counts_until_the_writer_releases_the_batch() -> None:
    # Rows being written are still in memory: taking them frees no room, committing does.
    queue = BoundedQueue(capacity_rows=1000, capacity_bytes=100)
    queue.offer(Pending({"t": [(1,)]}, 1, memory=60))
    batch = await queue.take(max_rows=10, max_wait=0)
    assert (queue.size, queue.memory) == (0, 60)
    queue.offer(Pending({"t": [(2,)]}, 1, memory=30))
    with pytest.raises(QueueFull):
        queue.offer(Pending({"t": [(3,)]}, 1, memory=30))
    queue.release(batch)
    assert queue.memory == 30
    queue.offer(Pending({"t": [(3,)]}, 1, memory=30))


async def test_with_none_waiting_a_request_is_taken_beyond_the_memory_left() -> None:
    # Else a request larger than the room the writers leave could never be accepted.
    queue = BoundedQueue(capacity_rows=1000, capacity_bytes=100)
    queue.offer(Pending({"t": [(1,)]}, 1, memory=90))
    await queue.take(max_rows=10, max_wait=0)
    queue.offer(Pending({"t": [(2,)]}, 1, memory=90))
    assert queue.memory == 180


async def test_full_by_memory_says_whether_any_request_could_be_taken() -> None:
    queue = BoundedQueue(capacity_rows=1000, capacity_bytes=100)
    assert not queue.full_by_memory
    queue.offer(Pending({"t": [(1,)]}, 1, memory=100))
    assert queue.full_by_memory
    batch = await queue.take(max_rows=10, max_wait=0)
    assert not queue.full_by_memory  # none waiting: the next request is taken whatever its size
    queue.offer(Pending({"t": [(2,)]}, 1, memory=10))
    assert queue.full_by_memory
    queue.release(batch)
    assert not queue.full_by_memory
    assert not BoundedQueue(capacity_rows=1).full_by_memory  # no memory bound
