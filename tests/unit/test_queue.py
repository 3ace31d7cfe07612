"""The queue contract: offer never blocks, full is an error, batches by size or age, drains; projects
are served in turn and, with fair sharing, each holds at most its share."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# Projects sharing the queue.


def of(project: str, rows: int, memory: int = 0) -> Pending:
    return Pending({"t": [(i,) for i in range(rows)]}, rows, memory, project)


async def test_writers_take_one_request_of_each_project_in_turn() -> None:
    # B's one request, offered after five of A's, goes in the first batch, not after A's backlog.
    queue = BoundedQueue(1000)
    flood = [of("a", 10) for _ in range(5)]
    for one in flood:
        queue.offer(one)
    small = of("b", 1)
    queue.offer(small)
    first = await queue.take(max_rows=11, max_wait=0)
    assert first == [flood[0], small]
    assert await queue.take(max_rows=1000, max_wait=0) == flood[1:]


async def test_a_batch_with_a_small_project_holds_at_most_an_equal_part_of_a_large_ones_rows() -> None:
    # A short batch commits sooner: B waits for 51 rows, not for 101.
    queue = BoundedQueue(1000)
    flood = [of("a", 10) for _ in range(20)]
    for one in flood:
        queue.offer(one)
    small = of("b", 1)
    queue.offer(small)
    assert await queue.take(max_rows=100, max_wait=0) == [flood[0], small, *flood[1:5]]
    assert await queue.take(max_rows=100, max_wait=0) == flood[5:15]  # alone again: a whole batch


async def test_the_turn_goes_on_where_the_last_batch_stopped() -> None:
    queue = BoundedQueue(1000)
    items = {project: [of(project, 10) for _ in range(2)] for project in "abc"}
    for index in range(2):
        for project in "abc":
            queue.offer(items[project][index])
    assert await queue.take(max_rows=20, max_wait=0) == [items["a"][0], items["b"][0]]
    assert await queue.take(max_rows=20, max_wait=0) == [items["c"][0], items["a"][1]]
    assert await queue.take(max_rows=20, max_wait=0) == [items["b"][1], items["c"][1]]


async def test_without_fair_sharing_one_project_may_fill_the_queue() -> None:
    # Authentication disabled: the default project alone, with the whole queue as before.
    queue = BoundedQueue(100)
    for _ in range(10):
        queue.offer(of("a", 10))
    assert queue.size == 100
    assert not queue.refuses("a")


async def test_with_fair_sharing_a_project_holds_its_share_and_a_newcomer_finds_room() -> None:
    queue = BoundedQueue(120, fair=True)
    for _ in range(6):
        queue.offer(of("a", 10))  # alone: half the queue, the other half kept for newcomers
    with pytest.raises(QueueFull):
        queue.offer(of("a", 10))
    assert queue.refuses("a") and not queue.refuses("b")
    for _ in range(4):
        queue.offer(of("b", 10))  # a third with two projects holding rows
    with pytest.raises(QueueFull):
        queue.offer(of("b", 10))
    queue.offer(of("c", 10))  # and room for a third
    assert queue.rows_by_project() == {"a": 60, "b": 40, "c": 10}


async def test_with_fair_sharing_a_project_holds_its_share_of_memory_until_commit() -> None:
    queue = BoundedQueue(capacity_rows=1000, capacity_bytes=120, fair=True)
    queue.offer(of("a", 1, memory=30))
    queue.offer(of("a", 1, memory=30))
    with pytest.raises(QueueFull):
        queue.offer(of("a", 1, memory=1))  # 60 of 120: its half
    batch = await queue.take(max_rows=10, max_wait=0)
    # Taken, not committed: still A's memory, but with none of A's waiting, one more goes in.
    queue.offer(of("a", 1, memory=30))
    assert queue.refuses("a")
    queue.offer(of("b", 1, memory=30))
    queue.release(batch)
    assert not queue.refuses("a")


async def test_a_project_with_none_waiting_gets_one_request_in_beyond_its_share() -> None:
    # Else a request larger than a project's share could never be accepted.
    queue = BoundedQueue(100, fair=True)
    queue.offer(of("a", 70))
    assert queue.refuses("a")
    with pytest.raises(QueueFull):
        queue.offer(of("a", 1))


async def test_the_whole_queue_bounds_every_project_together() -> None:
    queue = BoundedQueue(100, fair=True)
    queue.offer(of("a", 50))
    queue.offer(of("b", 45))
    with pytest.raises(QueueFull):
        queue.offer(of("c", 10))


async def test_projects_are_forgotten_once_their_rows_are_committed() -> None:
    queue = BoundedQueue(capacity_rows=100, capacity_bytes=100, fair=True)
    queue.offer(of("a", 10, memory=10))
    batch = await queue.take(max_rows=100, max_wait=0)
    assert queue.rows_by_project() == {"a": 0}  # taken, its memory not yet released
    queue.release(batch)
    assert queue.rows_by_project() == {}
    assert (queue.size, queue.memory) == (0, 0)


def project_traffic() -> st.SearchStrategy[list[tuple[str, ...]]]:
    offer = st.tuples(st.just("offer"), st.sampled_from("abcd"), st.integers(1, 40), st.integers(0, 50))
    take = st.tuples(st.just("take"), st.integers(1, 80))
    release = st.tuples(st.just("release"))
    return st.lists(st.one_of(offer, take, release), max_size=60)  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(steps=project_traffic(), fair=st.booleans())
def test_any_traffic_keeps_the_counts_the_bounds_and_each_projects_order(
    steps: list[tuple[str, ...]], fair: bool
) -> None:
    async def run() -> None:
        queue = BoundedQueue(capacity_rows=100, capacity_bytes=200, fair=fair)
        accepted: dict[str, list[Pending]] = {}
        taken: dict[str, list[Pending]] = {}
        in_flight: list[list[Pending]] = []
        for step in steps:
            if step[0] == "offer":
                _, project, rows, memory = step
                item = of(str(project), int(rows), int(memory))
                would_refuse = queue.refuses(item.project)
                try:
                    queue.offer(item)
                except QueueFull:
                    continue
                assert not would_refuse  # refused before decoding: the offer could not have passed
                accepted.setdefault(item.project, []).append(item)
            elif step[0] == "take" and queue.size:
                batch = await queue.take(max_rows=int(step[1]), max_wait=0)
                assert len(batch) == 1 or sum(i.rows for i in batch) <= int(step[1])
                for item in batch:
                    taken.setdefault(item.project, []).append(item)
                in_flight.append(batch)
            elif step[0] == "release" and in_flight:
                queue.release(in_flight.pop(0))
            waiting = [i for p in accepted for i in accepted[p][len(taken.get(p, [])) :]]
            held = waiting + [i for batch in in_flight for i in batch]
            assert queue.size == sum(i.rows for i in waiting)
            assert queue.memory == sum(i.memory for i in held)
            # Within the bounds; with none waiting, one request goes in whatever the memory held.
            assert queue.size <= 100
            assert queue.memory <= max(200, sum(i.memory for i in held if i not in waiting) + 50)
            if fair:  # at most half the rows (alone), or one request taken with none waiting
                assert all(rows <= 50 for rows in queue.rows_by_project().values())
        for project, items in taken.items():
            assert items == accepted[project][: len(items)]  # each project's requests in order

    asyncio.run(run())
